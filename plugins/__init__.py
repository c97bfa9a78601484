"""Built-in plugins; they register exactly like third-party ones."""
