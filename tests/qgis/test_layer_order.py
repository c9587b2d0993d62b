"""Issue 19, item 12: where a run's layers land and how its masks look.

The user's parcels stay above the imagery a run adds; each mask (a Prepare cloud mask, a
Reconstruct filled-pixel mask) sits just above its own image, with a one-entry legend, drawn
semi-transparent where it is 1 and not at all elsewhere, so ticking it shows it on the image.
Real data: products made from the bundled sample (tests/s2_products.py) and the sample stack.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from osgeo import gdal
from qgis.core import (QgsLayerTreeGroup, QgsMapRendererSequentialJob, QgsMapSettings,
                       QgsPalettedRasterRenderer, QgsProject, QgsRasterLayer,
                       QgsRasterMinMaxOrigin, QgsVectorLayer)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import s2_products as fx  # noqa: E402
from sample_stack import MSI, SAR, SCL  # noqa: E402

torch.set_num_threads(1)
EXTENT = "574680,575320,5621800,5622440 [EPSG:32631]"
DATES = fx.SAMPLE_DATES[2:4]  # 2019-04-21 (clear), 2019-04-26 (cloudy)


@pytest.fixture(scope="module")
def products(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("products")
    return [fx.make_product(folder, d) for d in DATES]


def user_layers(project: QgsProject) -> tuple[QgsVectorLayer, QgsRasterLayer]:
    """What a user has before a run: parcels (a vector) above a background raster."""
    parcels = QgsVectorLayer("Polygon?crs=EPSG:32631", "parcels", "memory")
    background = QgsRasterLayer(MSI[0], "background")
    project.addMapLayers([parcels, background], False)
    project.layerTreeRoot().addLayer(parcels)
    project.layerTreeRoot().addLayer(background)
    return parcels, background


def render(layers: list, extent) -> np.ndarray:
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(layers[-1].crs())
    settings.setExtent(extent)
    settings.setOutputSize(QSize(64, 64))
    settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    return np.array([[QColor(image.pixel(x, y)).getRgb()[:3] for x in range(64)]
                     for y in range(64)], dtype=int)


def assert_mask_shows_on_its_image(mask: QgsRasterLayer, image: QgsRasterLayer, label: str):
    """Styled as item 12 asks, and ticked above its image it changes exactly its 1 pixels."""
    renderer = mask.renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    assert [(c.value, c.label) for c in renderer.classes()] == [(1, label)]
    assert [text for text, _ in renderer.legendSymbologyItems()] == [label]
    assert 0.3 <= renderer.opacity() <= 0.8
    values = gdal.Open(mask.source()).ReadAsArray()
    assert values.any() and not values.all()
    alone, under = render([image], image.extent()), render([mask, image], image.extent())
    changed = (alone != under).any(axis=2)
    assert np.array_equal(changed, values == 1)
    # semi-transparent: the image still shows through (not one flat colour over the clouds)
    assert len({tuple(p) for p in under[values == 1]}) > 10


def test_prepare_group_goes_below_the_parcels_with_each_cloud_mask_above_its_image(
        provider, products, tmp_path, qgis_new_project):
    import processing
    project = QgsProject.instance()
    parcels, background = user_layers(project)
    processing.runAndLoadResults("smts_cloudfill:prepare", {
        "PRODUCTS": products, "EXTENT": EXTENT, "SAR": SAR[1:3],
        "OUTPUT_FOLDER": str(tmp_path / "o")})
    root = project.layerTreeRoot()
    names = [n.name() for n in root.children()]
    assert names[0] == "parcels" and names[2] == "background", names
    group = root.children()[1]
    assert isinstance(group, QgsLayerTreeGroup) and group.name().startswith("Sentinel-1/2")
    rows = [(n.name(), n.itemVisibilityChecked()) for n in group.children()]
    assert rows == [(f"CLOUDS_{DATES[0]}", False), (f"S2_{DATES[0]}", True),
                    (f"CLOUDS_{DATES[1]}", False), (f"S2_{DATES[1]}", False),
                    ("S1_20190411", False), ("S1_20190423", False)]
    mask, image = group.children()[2].layer(), group.children()[3].layer()
    assert_mask_shows_on_its_image(mask, image, "cloud")


@pytest.mark.slow
def test_reconstruct_group_goes_below_the_parcels_with_each_filled_mask_above_its_image(
        provider, small_weights, tmp_path, qgis_new_project, qgis_iface):
    import processing
    project = QgsProject.instance()
    parcels, background = user_layers(project)
    sources = [QgsRasterLayer(p, Path(p).stem) for p in MSI]
    project.addMapLayers(sources, False)
    inputs = project.layerTreeRoot().insertGroup(1, "inputs")  # between parcels and background
    for layer in sources:
        inputs.addLayer(layer)
    qgis_iface.setActiveLayer(sources[3])  # 2019-04-26
    processing.runAndLoadResults("smts_cloudfill:reconstruct", {
        "MSI": [l.id() for l in sources], "MASKS": SCL, "SAR": SAR, "MODEL": small_weights,
        "OUTPUT_FOLDER": str(tmp_path / "o")})
    root = project.layerTreeRoot()
    names = [n.name() for n in root.children()]
    assert names[0] == "parcels" and names[2:] == ["inputs", "background"], names
    group = root.children()[1]
    assert group.name().startswith("SMTS CloudFill")
    stem = "S2_0000280849BAC91C_"
    rows = [(n.name(), n.itemVisibilityChecked()) for n in group.children()]
    assert rows == [(stem + "20190426_filled_mask", False), (stem + "20190426_filled", True),
                    (stem + "20190411_filled_mask", False), (stem + "20190411_filled", False)]
    assert_mask_shows_on_its_image(group.children()[0].layer(), group.children()[1].layer(),
                                   "filled")
    # item 13: the filled layer is stretched on its clear pixels (those equal in its input), not
    # on its whole image, as the swipe then shows both sides
    filled = group.children()[1].layer()
    values = gdal.Open(filled.source()).ReadAsArray()
    clear = (values == gdal.Open(MSI[3]).ReadAsArray()).all(axis=0)
    r = filled.renderer()
    assert r.minMaxOrigin().limits() == QgsRasterMinMaxOrigin.None_  # QGIS keeps these
    for band, ce in ((3, r.redContrastEnhancement()), (1, r.blueContrastEnhancement())):
        lo, hi = np.quantile(values[band - 1][clear], [0.02, 0.98])
        assert (ce.minimumValue(), ce.maximumValue()) == (pytest.approx(lo), pytest.approx(hi))


def test_a_project_of_vectors_only_gets_the_group_at_the_bottom(qgis_app, qgis_new_project):
    from smts_cloudfill_plugin.algorithms.output_layers import imagery_index
    project = QgsProject.instance()
    layers = [QgsVectorLayer("Polygon?crs=EPSG:32631", f"v{i}", "memory") for i in range(2)]
    project.addMapLayers(layers)
    root = project.layerTreeRoot()
    assert imagery_index(root) == 2
    raster = QgsRasterLayer(MSI[0], "r")
    project.addMapLayer(raster, False)
    sub = root.insertGroup(1, "earlier run")
    sub.addLayer(raster)
    assert imagery_index(root) == 1  # a group holding rasters counts as imagery
