"""napari and Qt glue: the only part of the package that imports them."""
