"""Planning the work: model windows over the raster, strips of columns, date groups."""
