"""scorers plugins: importing this package registers the built-ins."""
