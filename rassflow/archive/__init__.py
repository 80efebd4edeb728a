"""RASS skyfields: the archive tree, downloads, event lists and exposure maps."""
