"""Processing algorithm "Prepare Sentinel-1/2 time series": thin glue around ``core.prepare``."""
from __future__ import annotations

import datetime as dt

from qgis.core import (QgsCoordinateReferenceSystem, QgsFeatureRequest, QgsProcessing,
                       QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingOutputMultipleLayers,
                       QgsProcessingParameterEnum, QgsProcessingParameterExtent,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterFile, QgsProcessingParameterFolderDestination,
                       QgsProcessingParameterMultipleLayers, QgsProcessingParameterNumber,
                       QgsProcessingParameterString)
from ..core.read.clouds import (DEFAULT_CLOUD_BUFFER, DEFAULT_SCL_MISSING, describe_scl_classes,
                               parse_scl_classes)
from .dialog_widgets import product_files_metadata
from .base import MAX_CLOUD_BUFFER, CloudFillAlgorithm, split_layer_lists
from .feedback import QgisFeedback
from ..qgis_io.layer_sources import layer_file
from .output_layers import load_series_outputs

RESAMPLING_LABELS = ["Nearest (no new values, as the bundled model's training data)",
                     "Bilinear", "Cubic"]
#: In the order of core.prepare.SAME_DAY ('mosaic', 'clearer').
SAME_DAY_LABELS = ["Mosaic them (the first product's pixels first)",
                   "Keep the clearer (fewer cloudy pixels over the area, per its SCL)"]


def same_day_name(value) -> str | None:
    """'mosaic' or 'clearer' for a SAME_DAY value given as an index (0, '1') or by name, in any
    case (what qgis_process users write); None when it is neither."""
    from ..core.prepare.series import SAME_DAY
    text = str(value).strip().lower() if value is not None else ""
    if text.isdigit():
        return SAME_DAY[int(text)] if int(text) < len(SAME_DAY) else None
    return text if text in SAME_DAY else None


class PrepareSeriesAlgorithm(CloudFillAlgorithm):
    PRODUCTS, PRODUCTS_FOLDER = "PRODUCTS", "PRODUCTS_FOLDER"
    EXTENT, PARCELS, EXTENT_BUFFER = "EXTENT", "PARCELS", "EXTENT_BUFFER"
    SAR = "SAR"
    CLOUD_BUFFER, EXTRA_SCL_CLASSES = "CLOUD_BUFFER", "EXTRA_SCL_CLASSES"
    CLOUD_POLYGONS, CLOUD_DATE_FIELD = "CLOUD_POLYGONS", "CLOUD_DATE_FIELD"
    RESAMPLING, SAME_DAY, OUTPUT_FOLDER = "RESAMPLING", "SAME_DAY", "OUTPUT_FOLDER"
    MSI, MASKS, SCL, SAR_OUT = "MSI", "MASKS", "SCL", "SAR_OUTPUT"

    HELP = {
        PRODUCTS: "Sentinel-2 Level-2A products as downloaded, several at once, any order. "
                  "With '…': 'Add products' for SAFE .zip files from the Copernicus Browser "
                  "(or the MTD_MSIL2A.xml of an unzipped .SAFE folder, or the band files of a "
                  "per-band download); 'Add a folder' for a .SAFE folder, a folder of one "
                  "date's per-band files (B02 ... B12 and SCL in the names, as the "
                  "Semi-Automatic Classification Plugin downloads them) or a folder holding "
                  "several products. Level-1C products are refused (the model needs surface "
                  "reflectance). Processing baseline 04.00+ offsets are removed.",
        PRODUCTS_FOLDER: "Or a folder (for qgis_process and models; in the dialog 'Add a "
                         "folder' above does the same): every SAFE .zip and .SAFE folder in "
                         "it, or one date's per-band files.",
        EXTENT: "The area to prepare (map canvas, a layer's extent or drawn), in any CRS. The "
                "output is on the 10 m grid of the UTM zone of its centre. Leave empty when "
                "parcels are given.",
        PARCELS: "Optional polygon layer (e.g. your fields): the area is their bounding box, "
                 "grown by the buffer below. Used when no extent is given.",
        EXTENT_BUFFER: "Margin added around the extent or the parcels, in metres.",
        SAR: "Optional Sentinel-1 GeoTIFFs (Google Earth Engine S1_GRD in dB, Copernicus "
             "Browser / Sentinel Hub exports, CARD4L backscatter in linear units): VV and VH in "
             "one file (VV first unless the bands are named) or two files with VV/VH in their "
             "names, the date in the file name. Written per date in dB on the output grid; the "
             "orbit direction (ASC/DESC in the name or metadata) is noted.",
        CLOUD_BUFFER: "Pixels (10 m) by which SCL clouds and cloud shadows are grown in the "
                      "cloud mask: SCL misses cloud edges and haze. Default "
                      "{cloud_buffer}, measured on real "
                      "seasons: pixels 1-3 px from an SCL cloud are 4x to 1.8x as far off as "
                      "clear pixels, 4-5 px only 1.4x to 1.2x; each pixel of buffer costs about "
                      "5 % of a cloudy date's clear pixels.",
        EXTRA_SCL_CLASSES: "SCL classes to count as cloudy besides "
                           "{scl_default}, comma separated: e.g. 7 "
                           "(unclassified) or 2 (dark features) where they are clouds in your "
                           "scene.",
        CLOUD_POLYGONS: "Optional polygons of clouds the SCL missed, drawn by you. They are "
                        "added to the cloud mask of their date (see the date field), or of every "
                        "date when there is no date field.",
        CLOUD_DATE_FIELD: "Field of the cloud polygons holding their date (a date, or text "
                          "YYYY-MM-DD / YYYYMMDD). Empty: every polygon applies to every date.",
        SAME_DAY: "Two or more products of one day (neighbouring tiles, or the same tile "
                  "downloaded twice): mosaic them, the first product's pixels first and the "
                  "others only where it has no data; or keep only the clearer: the product with "
                  "the fewest pixels over the area that its SCL calls cloudy, shadow or cirrus "
                  "(and the extra SCL classes, if any) or that it does not cover. A product "
                  "without SCL cannot be compared: the day is then mosaicked. The log says what "
                  "was done. With qgis_process, SAME_DAY=mosaic or clearer works as well as the "
                  "index.",
        RESAMPLING: "How the 20 m bands (B05, B06, B07, B8A, B11, B12) are put on the 10 m grid. "
                    "The SCL is always resampled with nearest.",
        OUTPUT_FOLDER: "Folder for S2_<date>.tif (10 bands, reflectance x 10000), "
                       "CLOUDS_<date>.tif (1 = to fill), SCL_<date>.tif and S1_<date>.tif, with "
                       "the run's messages in cloudfill_prepare_log.txt. The rasters load as a "
                       "group sorted by date, ready for 'Reconstruct cloudy MSI'.",
    }

    HELP_VALUES = {"cloud_buffer": str(DEFAULT_CLOUD_BUFFER),
                   "scl_default": describe_scl_classes(DEFAULT_SCL_MISSING)}

    def name(self) -> str:
        return "prepare"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Prepare Sentinel-1/2 time series")

    def flags(self):
        return super().flags() | QgsProcessingAlgorithm.FlagCanCancel

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Turns downloaded Sentinel-2 Level-2A products (SAFE zips or folders) and "
            "Sentinel-1 exports into one stack per date on one 10 m grid clipped to your "
            "area: 10 bands B02 ... B12 (20 m bands resampled), the scene classification, a "
            "cloud mask with a buffer around the clouds and your own cloud polygons, and "
            "Sentinel-1 VV/VH in dB. Products of one day are mosaicked (or the clearer "
            "kept), products of another UTM zone reprojected, a product that does not "
            "cover the area is skipped with a message. The results load as a group sorted "
            "by date: open 'Reconstruct cloudy MSI' next, its date table fills itself from "
            "them.\n\n"
            "Contains modified Copernicus Sentinel data.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        folder_behaviour = getattr(QgsProcessingParameterFile, "Folder", 1)
        tr = self.tr
        params = [
            QgsProcessingParameterMultipleLayers(self.PRODUCTS, tr("Sentinel-2 L2A products "
                                                                   "(SAFE .zip or folder, "
                                                                   "per-band folder)"),
                                                 QgsProcessing.TypeFile, optional=True),
            QgsProcessingParameterFile(self.PRODUCTS_FOLDER, tr("Or a folder of products"),
                                       behavior=folder_behaviour, optional=True),
            QgsProcessingParameterExtent(self.EXTENT, tr("Extent"), optional=True),
            QgsProcessingParameterFeatureSource(self.PARCELS, tr("Or parcels (polygon layer)"),
                                                [QgsProcessing.TypeVectorPolygon], optional=True),
            QgsProcessingParameterNumber(self.EXTENT_BUFFER, tr("Margin around the area (m)"),
                                         QgsProcessingParameterNumber.Double, 0.0, minValue=0.0),
            QgsProcessingParameterMultipleLayers(self.SAR, tr("Sentinel-1 GeoTIFFs (VV, VH)"),
                                                 QgsProcessing.TypeRaster, optional=True),
            QgsProcessingParameterNumber(self.CLOUD_BUFFER, tr("Cloud buffer (pixels)"),
                                         QgsProcessingParameterNumber.Integer,
                                         DEFAULT_CLOUD_BUFFER, minValue=0,
                                         maxValue=MAX_CLOUD_BUFFER),
            QgsProcessingParameterString(self.EXTRA_SCL_CLASSES, tr("Extra SCL classes counted as "
                                                                    "cloudy"), optional=True),
            QgsProcessingParameterFeatureSource(self.CLOUD_POLYGONS, tr("Missed clouds "
                                                                        "(your polygons)"),
                                                [QgsProcessing.TypeVectorPolygon], optional=True),
            QgsProcessingParameterField(self.CLOUD_DATE_FIELD,
                                        tr("Date field of the cloud polygons"),
                                        parentLayerParameterName=self.CLOUD_POLYGONS,
                                        optional=True),
            QgsProcessingParameterEnum(self.SAME_DAY, tr("Products of one day"),
                                       [tr(label) for label in SAME_DAY_LABELS], defaultValue=0),
            QgsProcessingParameterEnum(self.RESAMPLING, tr("Resampling of the 20 m bands"),
                                       [tr(label) for label in RESAMPLING_LABELS],
                                       defaultValue=0),
            QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, tr("Output folder")),
        ]
        for p in params:
            p.setHelp(self.help_text(p.name()))
            if p.name() == self.PRODUCTS:
                p.setMetadata(product_files_metadata())
            if p.name() in (self.PRODUCTS_FOLDER, self.EXTRA_SCL_CLASSES, self.RESAMPLING):
                p.setFlags(p.flags() | p.FlagAdvanced)
            self.addParameter(p)
        self.addOutput(QgsProcessingOutputMultipleLayers(self.MSI, tr("Sentinel-2 stacks")))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.MASKS, tr("Cloud masks")))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.SCL, tr("Scene classifications")))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.SAR_OUT, tr("Sentinel-1 per date")))

    # ----- parameters -> engine arguments ---------------------------------------------------
    def _products(self, parameters, context) -> list[str]:
        values = split_layer_lists(parameters, (self.PRODUCTS,)).get(self.PRODUCTS) or []
        if isinstance(values, str):
            values = [values]
        paths = [str(v) for v in values if str(v).strip()]
        folder = self.parameterAsFile(parameters, self.PRODUCTS_FOLDER, context)
        return paths + ([folder] if folder else [])

    def _extent(self, parameters, context):
        from ..core.prepare.grid import Extent
        if parameters.get(self.EXTENT):
            rect = self.parameterAsExtent(parameters, self.EXTENT, context)
            crs = self.parameterAsExtentCrs(parameters, self.EXTENT, context)
            if not rect.isEmpty():
                return Extent(rect.xMinimum(), rect.yMinimum(), rect.xMaximum(),
                              rect.yMaximum(), _crs_text(crs))
        source = self.parameterAsSource(parameters, self.PARCELS, context)
        if source is not None:
            rect = source.sourceExtent()
            if rect.isEmpty() and source.featureCount() > 0:
                for f in source.getFeatures(QgsFeatureRequest().setNoAttributes()):
                    rect.combineExtentWith(f.geometry().boundingBox())
            if not rect.isEmpty() or rect.width() > 0 or rect.height() > 0:
                return Extent(rect.xMinimum(), rect.yMinimum(), rect.xMaximum(),
                              rect.yMaximum(), _crs_text(source.sourceCrs()))
            raise QgsProcessingException(self.tr(
                "The parcels layer '{name}' holds no parcel to prepare ({count} features, none "
                "with a geometry): choose the layer of your fields, or give an extent instead.")
                .format(name=source.sourceName(), count=source.featureCount()))
        raise QgsProcessingException(self.tr("Give the area to prepare: an extent (the map "
                                             "canvas, a layer's extent or a drawn rectangle) or "
                                             "a parcels layer."))

    def _cloud_polygons(self, parameters, context):
        from ..core.read.dates import as_date
        from ..core.prepare.cloud_mask import CloudPolygons
        source = self.parameterAsSource(parameters, self.CLOUD_POLYGONS, context)
        if source is None:
            return None
        field = self.parameterAsString(parameters, self.CLOUD_DATE_FIELD, context)
        geometries = []
        for f in source.getFeatures():
            if not f.hasGeometry():
                continue
            date = None
            if field:
                value = f[field]
                date = as_date(value)
                if date is None and value not in (None, ""):
                    raise QgsProcessingException(self.tr(
                        "Cloud polygon {id}: '{value}' in field '{field}' is not a date (use "
                        "YYYY-MM-DD).").format(id=f.id(), value=value, field=field))
            geometries.append((f.geometry().asWkt(), date))
        return CloudPolygons(geometries, _crs_text(source.sourceCrs()))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.errors import CloudFillError
        from ..core.prepare.series import RESAMPLINGS, SAME_DAY, prepare_series
        products = self._products(parameters, context)
        sar = [layer_file(l) for l in
               self.parameterAsLayerList(parameters, self.SAR, context)]
        if not products and not sar:
            raise QgsProcessingException(self.tr("Give Sentinel-2 products (files or a folder) "
                                                 "and/or Sentinel-1 rasters."))
        extent = self._extent(parameters, context)
        folder = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        try:
            extra = parse_scl_classes(self.parameterAsString(parameters,
                                                             self.EXTRA_SCL_CLASSES, context))
            result = prepare_series(
                products, extent, folder,
                buffer_m=self.parameterAsDouble(parameters, self.EXTENT_BUFFER, context),
                sar=sar, cloud_buffer=self.parameterAsInt(parameters, self.CLOUD_BUFFER, context),
                scl_classes=tuple(sorted(set(DEFAULT_SCL_MISSING) | set(extra))),
                cloud_polygons=self._cloud_polygons(parameters, context),
                resampling=RESAMPLINGS[self.parameterAsEnum(parameters, self.RESAMPLING, context)],
                same_day=same_day_name(parameters.get(self.SAME_DAY)) or
                SAME_DAY[self.parameterAsEnum(parameters, self.SAME_DAY, context)],
                feedback=QgisFeedback(feedback))
        except CloudFillError as e:  # Cancelled included
            raise QgsProcessingException(str(e)) from None
        self._loads = ([(d.date, "S2", d.msi_path) for d in result.dates]
                       + [(d.date, "mask", d.mask_path) for d in result.dates if d.mask_path]
                       + [(s.date, "S1", s.path) for s in result.sar])
        return {self.OUTPUT_FOLDER: folder, self.MSI: [d.msi_path for d in result.dates],
                self.MASKS: [d.mask_path for d in result.dates if d.mask_path],
                self.SCL: [d.scl_path for d in result.dates if d.scl_path],
                self.SAR_OUT: [s.path for s in result.sar]}

    def checkParameterValues(self, parameters, context):  # noqa: N802
        """SAME_DAY by name (qgis_process users write SAME_DAY=clearer) as well as by index."""
        value = parameters.get(self.SAME_DAY)
        if isinstance(value, str) and value.strip() and not value.strip().isdigit():
            name = same_day_name(value)
            if name is None:
                return False, self.tr("Products of one day: '{value}' is not one of mosaic, "
                                      "clearer (or the index 0, 1).").format(value=value)
            from ..core.prepare.series import SAME_DAY
            parameters = {**parameters, self.SAME_DAY: SAME_DAY.index(name)}
        return super().checkParameterValues(parameters, context)

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802
        group = self.tr("Sentinel-1/2 time series {time}").format(
            time=f"{dt.datetime.now():%Y-%m-%d %H:%M:%S}")
        load_series_outputs(context, getattr(self, "_loads", []), group, self.MSI)
        return {}


def _crs_text(crs: QgsCoordinateReferenceSystem) -> str:
    return crs.authid() if crs.authid().upper().startswith("EPSG:") else crs.toWkt()
