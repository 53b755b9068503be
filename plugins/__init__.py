"""postroom's built-in plugins, registered through the ``postroom`` entry-point group."""
