"""Stage entry points: thin layers that parse arguments, read params, call the library, write artifacts."""
