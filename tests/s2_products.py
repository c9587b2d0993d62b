"""Small, structurally valid Sentinel-2 products made from the shipped real sample.

Real SAFE products (about 1 GB each) cannot be downloaded here, so the tests build their own:
the SAFE layout of a Copernicus Browser download (``<name>.SAFE/MTD_MSIL2A.xml``,
``GRANULE/<granule>/MTD_TL.xml`` and ``IMG_DATA/R10m|R20m/*.jp2``), read by GDAL's SENTINEL2
driver exactly as a real product is, zipped or not. The pixels are the sample's real values:
10 m bands as they are, 20 m bands and SCL at their native 20 m (the sample repeats them 2 x 2),
written as lossless JPEG 2000 (GDAL's JP2OpenJPEG, as ESA's own products).

- ``baseline="04.00"`` stores DN + 1000 and declares ``BOA_ADD_OFFSET`` -1000 per band, as ESA
  does since January 2022;
- ``level="L1C"`` writes an ``MTD_MSIL1C.xml`` Level-1C product (top-of-atmosphere, no SCL);
- ``origin`` moves the tile (to make a product that does not cover an extent).

``per_band_folder`` writes the other common download: one GeoTIFF per band (and SCL), date in
the file names, as the Semi-Automatic Classification Plugin leaves them.
"""
from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import numpy as np
from osgeo import gdal, osr

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "sample"
SITE = "0000280849BAC91C"
#: The sample's top-left corner (UTM 31N) and size at 10 m.
ORIGIN = (574680.0, 5622440.0)
SIZE_10M = 64
BANDS_10M = ("B02", "B03", "B04", "B08")
BANDS_20M = ("B05", "B06", "B07", "B8A", "B11", "B12")
#: The sample's band order (and the model's).
SAMPLE_BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
#: Physical band ids of MTD_MSIL2A.xml (BOA_ADD_OFFSET band_id).
BAND_ID = {"B01": 0, "B02": 1, "B03": 2, "B04": 3, "B05": 4, "B06": 5, "B07": 6, "B08": 7,
           "B8A": 8, "B09": 9, "B10": 10, "B11": 11, "B12": 12}
SAMPLE_DATES = ("20190401", "20190411", "20190421", "20190426", "20190511", "20190516")


def sample_arrays(date: str) -> tuple[np.ndarray, np.ndarray]:
    """The sample's (10, 64, 64) UInt16 MSI and (64, 64) UInt8 SCL of ``date`` (YYYYMMDD)."""
    msi = gdal.Open(str(SAMPLE / "msi" / f"S2_{SITE}_{date}.tif")).ReadAsArray()
    scl = gdal.Open(str(SAMPLE / "scl" / f"SCL_{SITE}_{date}.tif")).ReadAsArray()
    return msi, scl


def _write_jp2(path: Path, array: np.ndarray, origin: tuple[float, float], res: float,
               epsg: int) -> None:
    mem = gdal.GetDriverByName("MEM").Create("", array.shape[1], array.shape[0], 1,
                                             gdal.GDT_UInt16 if array.dtype == np.uint16
                                             else gdal.GDT_Byte)
    mem.SetGeoTransform((origin[0], res, 0.0, origin[1], 0.0, -res))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    mem.SetProjection(srs.ExportToWkt())
    mem.GetRasterBand(1).WriteArray(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    gdal.GetDriverByName("JP2OpenJPEG").CreateCopy(str(path), mem, options=[
        "REVERSIBLE=YES", "QUALITY=100", "RESOLUTIONS=1"])
    aux = Path(str(path) + ".aux.xml")
    if aux.exists():
        aux.unlink()


def product_name(date: str, level: str = "L2A", baseline: str = "02.11",
                 tile: str = "31UES") -> str:
    n = baseline.replace(".", "")
    return f"S2A_MSI{level}_{date}T105031_N{n}_R051_T{tile}_{date}T134910"


def make_product(folder, date: str = "20190426", *, level: str = "L2A", baseline: str = "02.11",
                 zipped: bool = False, origin: tuple[float, float] = ORIGIN, epsg: int = 32631,
                 tile: str = "31UES", time: str = "105031", msi: np.ndarray | None = None,
                 scl: np.ndarray | None = None, offset_in_xml: bool | None = None) -> str:
    """Write one product into ``folder``; return the path of its ``.SAFE`` folder or ``.zip``.

    ``msi`` (10, 64, 64) in the sample's band order and ``scl`` (64, 64) replace the sample's
    arrays of ``date`` (the 20 m bands and SCL are taken at [::2, ::2]).
    """
    folder = Path(folder)
    if msi is None or scl is None:
        s_msi, s_scl = sample_arrays(date)
        msi = s_msi if msi is None else msi
        scl = s_scl if scl is None else scl
    new_baseline = float(baseline) >= 4.0
    offset_in_xml = new_baseline if offset_in_xml is None else offset_in_xml
    name = product_name(date, level, baseline, tile)
    safe = folder / f"{name}.SAFE"
    granule_id = f"{level}_T{tile}_A020006_{date}T{time}"
    granule = safe / "GRANULE" / granule_id
    stem = f"T{tile}_{date}T{time}"
    files = []
    for b in BANDS_10M + BANDS_20M:
        values = msi[SAMPLE_BANDS.index(b)].astype(np.uint16)
        if new_baseline:
            values = np.where(values > 0, values + 1000, 0).astype(np.uint16)
        ten = b in BANDS_10M
        data = values if ten else values[::2, ::2]
        if level == "L2A":
            rel = f"IMG_DATA/R{'10' if ten else '20'}m/{stem}_{b}_{'10' if ten else '20'}m"
        else:
            rel = f"IMG_DATA/{stem}_{b}"
        _write_jp2(granule / f"{rel}.jp2", data, origin, 10.0 if ten else 20.0, epsg)
        files.append(rel)
    if level == "L2A":
        rel = f"IMG_DATA/R20m/{stem}_SCL_20m"
        _write_jp2(granule / f"{rel}.jp2", scl.astype(np.uint8)[::2, ::2], origin, 20.0, epsg)
        files.append(rel)
        # What the driver also looks for in a real product (aerosol, water vapour, cloud and
        # snow probabilities): zeros here, present so that GDAL warns of nothing missing.
        zeros = np.zeros((SIZE_10M // 2, SIZE_10M // 2), np.uint8)
        for rel in (f"IMG_DATA/R20m/{stem}_AOT_20m", f"IMG_DATA/R20m/{stem}_WVP_20m",
                    "QI_DATA/MSK_CLDPRB_20m", "QI_DATA/MSK_SNWPRB_20m"):
            _write_jp2(granule / f"{rel}.jp2", zeros, origin, 20.0, epsg)
            if rel.startswith("IMG_DATA"):
                files.append(rel)
    safe.mkdir(parents=True, exist_ok=True)
    (safe / f"MTD_MSI{level}.xml").write_text(
        _product_xml(name, date, time, level, baseline, granule_id, files, offset_in_xml),
        encoding="utf-8")
    (granule / "MTD_TL.xml").write_text(_tile_xml(date, time, level, epsg, origin),
                                        encoding="utf-8")
    if not zipped:
        return str(safe)
    archive = folder / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(safe.rglob("*")):
            zf.write(path, path.relative_to(folder).as_posix())
    import shutil
    shutil.rmtree(safe)
    return str(archive)


def _product_xml(name, date, time, level, baseline, granule_id, files, offsets) -> str:
    iso = dt.datetime.strptime(date + time, "%Y%m%d%H%M%S").strftime("%Y-%m-%dT%H:%M:%S.024Z")
    root = "Level-2A_User_Product" if level == "L2A" else "Level-1C_User_Product"
    prefix = "BOA" if level == "L2A" else "RADIO"
    quant = "BOA_QUANTIFICATION_VALUE" if level == "L2A" else "QUANTIFICATION_VALUE"
    image_files = "\n".join(f"            <IMAGE_FILE>GRANULE/{granule_id}/{f}</IMAGE_FILE>"
                            for f in files)
    offset_list = ""
    if offsets:
        tag = "BOA_ADD_OFFSET_VALUES_LIST" if level == "L2A" else "Radiometric_Offset_List"
        offset_list = (f"      <{tag}>\n" + "\n".join(
            f'        <{prefix}_ADD_OFFSET band_id="{i}">-1000</{prefix}_ADD_OFFSET>'
            for i in range(13)) + f"\n      </{tag}>\n")
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:{root} xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_{level.replace('L', 'Level-')}.xsd" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <n1:General_Info>
    <Product_Info>
      <PRODUCT_START_TIME>{iso}</PRODUCT_START_TIME>
      <PRODUCT_STOP_TIME>{iso}</PRODUCT_STOP_TIME>
      <PRODUCT_URI>{name}.SAFE</PRODUCT_URI>
      <PROCESSING_LEVEL>Level-{level[1:]}</PROCESSING_LEVEL>
      <PRODUCT_TYPE>S2MSI{level[1:]}</PRODUCT_TYPE>
      <PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
      <GENERATION_TIME>{iso}</GENERATION_TIME>
      <Datatake datatakeIdentifier="GS2A_{date}T{time}_020006_N{baseline}">
        <SPACECRAFT_NAME>Sentinel-2A</SPACECRAFT_NAME>
        <DATATAKE_TYPE>INS-NOBS</DATATAKE_TYPE>
        <DATATAKE_SENSING_START>{iso}</DATATAKE_SENSING_START>
        <SENSING_ORBIT_NUMBER>51</SENSING_ORBIT_NUMBER>
        <SENSING_ORBIT_DIRECTION>DESCENDING</SENSING_ORBIT_DIRECTION>
      </Datatake>
      <Query_Options completeSingleTile="true">
        <PRODUCT_FORMAT>SAFE_COMPACT</PRODUCT_FORMAT>
      </Query_Options>
      <Product_Organisation>
        <Granule_List>
          <Granule datastripIdentifier="S2A_OPER_MSI_{level}_DS_TEST" granuleIdentifier="S2A_OPER_MSI_{level}_TL_TEST" imageFormat="JPEG2000">
{image_files}
          </Granule>
        </Granule_List>
      </Product_Organisation>
    </Product_Info>
    <Product_Image_Characteristics>
      <Special_Values>
        <SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT>
        <SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX>
      </Special_Values>
      <QUANTIFICATION_VALUES_LIST>
        <{quant} unit="none">10000</{quant}>
      </QUANTIFICATION_VALUES_LIST>
{offset_list}    </Product_Image_Characteristics>
  </n1:General_Info>
  <n1:Geometric_Info>
    <Coordinate_Reference_System>
      <GEO_TABLES version="1">EPSG</GEO_TABLES>
      <HORIZONTAL_CS_TYPE>GEOGRAPHIC</HORIZONTAL_CS_TYPE>
    </Coordinate_Reference_System>
  </n1:Geometric_Info>
</n1:{root}>
"""


def _tile_xml(date, time, level, epsg, origin) -> str:
    iso = dt.datetime.strptime(date + time, "%Y%m%d%H%M%S").strftime("%Y-%m-%dT%H:%M:%S.024Z")
    sizes = "".join(f"""
      <Size resolution="{r}">
        <NROWS>{SIZE_10M * 10 // r}</NROWS>
        <NCOLS>{SIZE_10M * 10 // r}</NCOLS>
      </Size>""" for r in (10, 20))
    geo = "".join(f"""
      <Geoposition resolution="{r}">
        <ULX>{origin[0]:.0f}</ULX>
        <ULY>{origin[1]:.0f}</ULY>
        <XDIM>{r}</XDIM>
        <YDIM>-{r}</YDIM>
      </Geoposition>""" for r in (10, 20))
    zone = epsg % 100
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-{level[1:]}_Tile_ID xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-{level[1:]}_Tile_Metadata.xsd">
  <n1:General_Info>
    <SENSING_TIME metadataLevel="Standard">{iso}</SENSING_TIME>
  </n1:General_Info>
  <n1:Geometric_Info>
    <Tile_Geocoding metadataLevel="Brief">
      <HORIZONTAL_CS_NAME>WGS84 / UTM zone {zone}N</HORIZONTAL_CS_NAME>
      <HORIZONTAL_CS_CODE>EPSG:{epsg}</HORIZONTAL_CS_CODE>{sizes}{geo}
    </Tile_Geocoding>
  </n1:Geometric_Info>
</n1:Level-{level[1:]}_Tile_ID>
"""


def per_band_folder(folder, date: str = "20190426", tile: str = "31UES") -> str:
    """One GeoTIFF per band (10 m bands at 10 m, 20 m bands and SCL at 20 m), date in the
    names (``RT_T31UES_<date>T105031_B02.tif``), as the Semi-Automatic Classification Plugin
    downloads them; return the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    msi, scl = sample_arrays(date)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32631)
    items = [(b, msi[SAMPLE_BANDS.index(b)], 10.0 if b in BANDS_10M else 20.0)
             for b in BANDS_10M + BANDS_20M] + [("SCL", scl, 20.0)]
    for b, values, res in items:
        data = values if res == 10.0 else values[::2, ::2]
        ds = gdal.GetDriverByName("GTiff").Create(
            str(folder / f"RT_T{tile}_{date}T105031_{b}.tif"), data.shape[1], data.shape[0], 1,
            gdal.GDT_Byte if b == "SCL" else gdal.GDT_UInt16)
        ds.SetGeoTransform((ORIGIN[0], res, 0.0, ORIGIN[1], 0.0, -res))
        ds.SetProjection(srs.ExportToWkt())
        ds.GetRasterBand(1).WriteArray(data)
        ds = None
    return str(folder)


if __name__ == "__main__":  # build a folder of products to look at: python tests/s2_products.py DIR
    import sys
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/products")
    for i, d in enumerate(SAMPLE_DATES):
        print(make_product(out, d, zipped=i % 2 == 0, baseline="04.00" if i == 5 else "02.11"))
