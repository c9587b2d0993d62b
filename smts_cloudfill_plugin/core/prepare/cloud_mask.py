"""The cloud mask Prepare writes per date: 1 where to fill.

SCL classes (clouds and shadows grown by the cloud buffer, :mod:`..read.clouds`), pixels with
no data in any band, and the user's polygons of clouds the SCL missed.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from osgeo import gdal, ogr, osr

from ..read.clouds import scl_missing
from .grid import Grid


def cloud_mask(scl: np.ndarray | None, msi_missing: np.ndarray, classes: tuple[int, ...],
               buffer_px: int, polygons: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool to fill: SCL ``classes`` (clouds and shadows grown by ``buffer_px``), the
    user's polygons, and pixels with no data in any band."""
    mask = msi_missing.copy()
    if scl is not None:
        mask |= scl_missing(scl, classes, buffer_px)
    if polygons is not None:
        mask |= polygons
    return mask


@dataclass
class CloudPolygons:
    """Polygons of clouds the SCL missed: WKT geometries in ``crs``, each with a date (or None:
    every date)."""

    geometries: list[tuple[str, dt.date | None]]
    crs: str

    def rasterize(self, grid: Grid, date: dt.date) -> np.ndarray | None:
        wkts = [w for w, d in self.geometries if d is None or d == date]
        if not wkts:
            return None
        src = osr.SpatialReference()
        src.SetFromUserInput(self.crs)
        src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        dst = osr.SpatialReference()
        dst.ImportFromEPSG(grid.epsg)
        dst.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        ct = osr.CoordinateTransformation(src, dst)
        mem = gdal.GetDriverByName("MEM").Create("", grid.width, grid.height, 1, gdal.GDT_Byte)
        mem.SetGeoTransform(grid.geotransform)
        mem.SetProjection(grid.wkt)
        vds = ogr.GetDriverByName("Memory").CreateDataSource("clouds")
        layer = vds.CreateLayer("clouds", dst, ogr.wkbUnknown)
        for wkt in wkts:
            geom = ogr.CreateGeometryFromWkt(wkt)
            if geom is None:
                continue
            geom.Transform(ct)
            feat = ogr.Feature(layer.GetLayerDefn())
            feat.SetGeometry(geom)
            layer.CreateFeature(feat)
        gdal.RasterizeLayer(mem, [1], layer, burn_values=[1], options=["ALL_TOUCHED=TRUE"])
        out = mem.GetRasterBand(1).ReadAsArray().astype(bool)
        mem = vds = layer = None
        return out
