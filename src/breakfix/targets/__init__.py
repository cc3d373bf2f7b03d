"""targets plugins: importing this package registers the built-ins."""
