"""Rubrics shipped with breakfix (YAML data; a package only so the files are installed)."""
