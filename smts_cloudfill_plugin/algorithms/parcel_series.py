"""Processing algorithm "Parcel time series": thin glue around ``core.parcels.series``."""
from __future__ import annotations

from qgis.core import (QgsFeature, QgsFeatureSink, QgsField, QgsFields, QgsProcessing,
                       QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingParameterEnum, QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterFile, QgsProcessingParameterString, QgsWkbTypes)
from qgis.PyQt.QtCore import QVariant

from ..core.indices import DEFAULT_INDEX, INDICES
from .base import (FILE_ROLES, CloudFillAlgorithm, RasterListParameter, damaged_file,
                   layer_list, parse_date_list, split_layer_lists)
from .feedback import QgisFeedback
from ..qgis_io.layer_sources import layer_file

#: The INDEX enum's entries, in the order of core's INDICES (NDVI first, the default).
INDEX_NAMES = list(INDICES)
INDEX_LABELS = [f"{name}: {INDICES[name].text}" for name in INDEX_NAMES]


def index_name(value) -> str | None:
    """The index for an INDEX value given as an enum index (0, '1') or by name in any case
    ('ndvi', 'B04': what qgis_process users write); None when it is neither."""
    text = str(value).strip() if value is not None else ""
    if text.isdigit():
        return INDEX_NAMES[int(text)] if int(text) < len(INDEX_NAMES) else None
    return next((n for n in INDEX_NAMES if n.upper() == text.upper()), None)


class ParcelSeriesAlgorithm(CloudFillAlgorithm):
    """One row per parcel and date: the index's mean and spread, and how much was filled."""

    PARCELS, ID_FIELD, MSI, FILLED = "PARCELS", "ID_FIELD", "MSI", "FILLED"
    INDEX, MSI_DATES, OUTPUT = "INDEX", "MSI_DATES", "OUTPUT"

    HELP = {
        PARCELS: "Polygon layer of the parcels (fields). Parcels in another CRS than the "
                 "rasters are reprojected. A pixel belongs to a parcel when its centre lies "
                 "inside it; parcels overlapping each other each keep their pixels. Parcels "
                 "with an invalid geometry, outside the rasters or smaller than a pixel are "
                 "left out, a warning each.",
        ID_FIELD: "Field that names each parcel in the table's 'parcel' column. Empty: the "
                  "feature id.",
        MSI: "The season's Sentinel-2 rasters, one per date, as given to Reconstruct (bands "
             "matched by name B02 ... B12, or the 10 bands in that order; UInt16 DN or float "
             "reflectance: the index is computed on reflectance).",
        FILLED: "Optional: Reconstruct's output folder. A date's <name>_filled.tif there is "
                "read instead of the date itself; its <name>_filled_mask.tif gives the share "
                "filled, and <name>_filled_rmse.tif, when there is one, the expected error. "
                "Empty: observed values only.",
        INDEX: "The index (on surface reflectance) or single band to summarise per parcel. "
               "With qgis_process, INDEX=NDVI (or ndwi, B04) works as well as the index number.",
        MSI_DATES: "Optional acquisition dates of the MSI layers, comma separated YYYY-MM-DD in "
                   "the same order; they replace dates read from file names or metadata.",
        OUTPUT: "The table (GeoPackage, CSV, or a temporary layer): one row per parcel and date "
                "with parcel, date (ISO), <index>_mean and <index>_std (over the parcel's pixels "
                "with data), pixels (pixel centres inside the parcel and the rasters), "
                "clear_share (observed clear), filled_share, expected_error (mean expected "
                "error of its filled pixels, reflectance; empty without a _filled_rmse raster), "
                "status (observed, partly filled, filled or no data) and <index>_error: the "
                "expected error of <index>_mean from its filled pixels, in index units (their "
                "expected error carried through the index, times the filled share).",
    }
    SUMMARY = ("Each parcel's season from the Sentinel-2 dates and Reconstruct's fills: the mean "
               "and standard deviation of an index (NDVI by default) over the parcel, date by "
               "date, which share of it was observed clear and which was filled, and how far "
               "to trust the filled values. The table joins to the parcels by the 'parcel' "
               "column, and plots as each parcel's curve with its filled dates marked.")

    def name(self) -> str:
        return "parcel_series"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Parcel time series")

    def flags(self):
        return super().flags() | QgsProcessingAlgorithm.FlagSupportsBatch | \
            QgsProcessingAlgorithm.FlagCanCancel

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        folder = getattr(QgsProcessingParameterFile, "Folder", 1)
        tr = self.tr
        params = [
            QgsProcessingParameterFeatureSource(self.PARCELS, tr("Parcels (polygon layer)"),
                                                [QgsProcessing.TypeVectorPolygon]),
            QgsProcessingParameterField(self.ID_FIELD, tr("Parcel id field"),
                                        parentLayerParameterName=self.PARCELS, optional=True),
            RasterListParameter(self.MSI, tr("Sentinel-2 dates (MSI)"), FILE_ROLES[self.MSI]),
            QgsProcessingParameterFile(self.FILLED, tr("Reconstruct's output folder"),
                                       behavior=folder, optional=True),
            QgsProcessingParameterEnum(self.INDEX, tr("Index"), INDEX_LABELS,
                                       defaultValue=INDEX_NAMES.index(DEFAULT_INDEX)),
            QgsProcessingParameterString(self.MSI_DATES, tr("Sentinel-2 dates (YYYY-MM-DD, ...)"),
                                         optional=True),
            QgsProcessingParameterFeatureSink(self.OUTPUT, tr("Parcel time series"),
                                              QgsProcessing.TypeVector),
        ]
        for p in params:
            p.setHelp(self.help_text(p.name()))
            if p.name() == self.MSI_DATES:
                p.setFlags(p.flags() | p.FlagAdvanced)
            self.addParameter(p)

    def checkParameterValues(self, parameters, context):  # noqa: N802
        """An INDEX given by name is accepted; files given by path are checked as the engine
        opens them (see StackAlgorithm.checkParameterValues)."""
        parameters = split_layer_lists(parameters, (self.MSI,))
        problem = damaged_file(parameters, ((self.MSI, FILE_ROLES[self.MSI]),))
        if problem:
            return False, problem
        value = parameters.get(self.INDEX)
        if value is not None and str(value).strip() and index_name(value) is None:
            return False, self.tr("Index '{value}' is not one of {names} (or its number 0 .. "
                                  "{last}).").format(value=value, names=", ".join(INDEX_NAMES),
                                                     last=len(INDEX_NAMES) - 1)
        if value is not None and index_name(value) is not None:
            parameters = dict(parameters)
            parameters[self.INDEX] = INDEX_NAMES.index(index_name(value))
        return super().checkParameterValues(parameters, context)

    def _index(self, parameters, context) -> str:
        return index_name(parameters.get(self.INDEX)) or \
            INDEX_NAMES[self.parameterAsEnum(parameters, self.INDEX, context)]

    def _parcels(self, parameters, context, feedback) -> tuple[list, str, QgsField]:
        """The parcels (id, WKB), their CRS as text, and the table's 'parcel' field."""
        from ..core.parcels.series import Parcel
        source = self.parameterAsSource(parameters, self.PARCELS, context)
        if source is None:
            raise QgsProcessingException(self.tr("Give the parcels: a polygon layer."))
        field = self.parameterAsString(parameters, self.ID_FIELD, context)
        if field and source.fields().indexOf(field) < 0:
            raise QgsProcessingException(self.tr("The parcels layer has no field '{field}'.")
                                         .format(field=field))
        parcel_field = QgsField(source.fields().field(field)) if field else \
            QgsField("parcel", QVariant.LongLong)
        parcel_field.setName("parcel")
        parcels = []
        for f in source.getFeatures():
            if feedback.isCanceled():
                break
            geometry = f.geometry()
            wkb = b"" if geometry is None or geometry.isEmpty() else bytes(geometry.asWkb())
            parcels.append(Parcel(f[field] if field else f.id(), wkb))
        if not parcels:
            raise QgsProcessingException(self.tr("The parcels layer '{name}' holds no parcel.")
                                         .format(name=source.sourceName()))
        crs = source.sourceCrs()
        crs_text = crs.authid() if crs.authid().upper().startswith("EPSG:") else crs.toWkt()
        return parcels, crs_text if crs.isValid() else "", parcel_field

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.errors import Cancelled, CloudFillError
        from ..core.parcels.series import parcel_series
        msi = layer_list(self, parameters, self.MSI, context)
        if not msi:
            raise QgsProcessingException(self.tr("No Sentinel-2 (MSI) layers were given."))
        index = self._index(parameters, context)
        parcels, crs, parcel_field = self._parcels(parameters, context, feedback)
        dates = parse_date_list(self.parameterAsString(parameters, self.MSI_DATES, context),
                                len(msi), self.MSI_DATES)
        try:
            rows = parcel_series(parcels, [layer_file(l) for l in msi],
                                 self.parameterAsString(parameters, self.FILLED, context) or None,
                                 index, dates, QgisFeedback(feedback), parcels_crs=crs)
        except (Cancelled, CloudFillError) as e:
            raise QgsProcessingException(str(e)) from None
        fields = QgsFields()
        fields.append(parcel_field)
        for name, kind in (("date", QVariant.String), (f"{index}_mean", QVariant.Double),
                           (f"{index}_std", QVariant.Double), ("pixels", QVariant.Int),
                           ("clear_share", QVariant.Double), ("filled_share", QVariant.Double),
                           ("expected_error", QVariant.Double), ("status", QVariant.String),
                           (f"{index}_error", QVariant.Double)):
            fields.append(QgsField(name, kind))
        # Written only once every row is computed: a cancel or an error leaves no table.
        sink, dest = self.parameterAsSink(parameters, self.OUTPUT, context, fields,
                                          QgsWkbTypes.NoGeometry)
        if sink is None:
            raise QgsProcessingException(self.tr("Cannot create the output table."))
        for r in rows:
            feature = QgsFeature(fields)
            feature.setAttributes([r.parcel, r.date, r.mean, r.std, r.pixels, r.clear_share,
                                   r.filled_share, r.expected_error, r.status, r.index_error])
            sink.addFeature(feature, QgsFeatureSink.FastInsert)
        feedback.pushInfo(self.tr("{rows} rows: {parcels} parcels x {dates} dates, {index}.")
                          .format(rows=len(rows), parcels=len({r.parcel for r in rows}),
                                  dates=len(msi), index=index))
        return {self.OUTPUT: dest}
