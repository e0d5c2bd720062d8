"""Many photos: propose, export and apply over folders, here or on a Dask cluster."""
