"""Cloud masks: SCL classes, 0/1 rasters and synthetic clouds."""
from __future__ import annotations

import numpy as np
import pytest

from smts_cloudfill_plugin.core.errors import CloudFillError
from smts_cloudfill_plugin.core.read.clouds import (BINARY, DEFAULT_SCL_MISSING, PROBABILITY, SCL,
                                                    SCL_CLASS_NAMES, binary_to_mask,
                                                    describe_scl_classes, dilate, mask_meaning,
                                                    parse_scl_classes, scl_missing, scl_to_mask)
from smts_cloudfill_plugin.core.synthetic_clouds import (gaussian_smooth, synthetic_cloud_mask,
                                                         synthetic_cloud_masks)

#: Sentinel-2 L2A scene classes and whether the default treats them as missing.
SCL_DEFAULT = {0: True,    # no data
               1: False,   # saturated or defective
               2: False,   # dark area pixels
               3: True,    # cloud shadow
               4: False,   # vegetation
               5: False,   # not vegetated
               6: False,   # water
               7: False,   # unclassified
               8: True,    # cloud medium probability
               9: True,    # cloud high probability
               10: True,   # thin cirrus
               11: True}   # snow (in the real seasons, clouds taken for snow)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_each_scl_class_maps_to_the_default_mask(dtype):
    assert set(DEFAULT_SCL_MISSING) == {0, 3, 8, 9, 10, 11}
    scl = np.arange(12, dtype=dtype).reshape(3, 4)
    mask = scl_to_mask(scl)
    assert mask.dtype == bool and mask.shape == (3, 4)
    for c, missing in SCL_DEFAULT.items():
        assert bool(mask.ravel()[c]) is missing, f"class {c}"


def test_custom_scl_classes():
    scl = np.arange(12, dtype=np.uint8)
    mask = scl_to_mask(scl, classes=(8, 9, 11))
    assert list(np.nonzero(mask)[0]) == [8, 9, 11]
    assert not scl_to_mask(scl, classes=()).any()


def test_binary_mask_rasters():
    values = np.array([[0, 1, 2], [0, 255, np.nan]], dtype=np.float32)
    np.testing.assert_array_equal(binary_to_mask(values),
                                  [[False, True, True], [False, True, False]])
    np.testing.assert_array_equal(binary_to_mask(np.array([0, 1], np.uint8)), [False, True])


def test_a_mask_s_meaning_comes_from_its_content():
    """SCL by name or by classes 0..11; 0/1 and 0/X (X above the classes) two-valued masks,
    X the cloud; fractions 0..1 a probability. 0/255 read as SCL was used upside down."""
    u8 = np.uint8
    assert mask_meaning(np.array([[4, 5], [8, 9]], u8)).kind == SCL
    assert mask_meaning(np.array([[0, 4], [4, 0]], u8)).kind == SCL
    assert mask_meaning(np.zeros((2, 2), u8), "Scene classification").kind == SCL
    assert mask_meaning(np.array([0, 1], u8), "SCL").kind == SCL
    for values in ([0, 1], [0, 0], [1, 1], [np.nan, 1.0, 0.0]):
        found = mask_meaning(np.array(values, np.float32))
        assert (found.kind, found.cloud) == (BINARY, 1.0), values
    found = mask_meaning(np.array([[0, 255], [255, 0]], u8))
    assert (found.kind, found.cloud) == (BINARY, 255.0)
    assert found.missing(np.array([0, 255, 0], u8)).tolist() == [False, True, False]
    assert "255 = cloud, 0 = clear" in found.describe()
    assert mask_meaning(np.array([0, 100], np.int16)).cloud == 100
    found = mask_meaning(np.array([0.1, 0.9, 0.1, 0.4], np.float32))
    assert found.kind == PROBABILITY and (found.low, found.high) == pytest.approx((0.1, 0.9))
    assert found.missing(np.array([0.1, 0.9, 0.5, 0.6], np.float32)).tolist() == \
        [False, True, False, True]
    # the band's no-data value is left out: a 0/1 mask with 255 outside the area is 0/1
    assert mask_meaning(np.array([0, 1, 255], u8), nodata=255).kind == BINARY


@pytest.mark.parametrize("values, description, expected", [
    (np.arange(256, dtype=np.uint8), "", r"holds 256 different whole numbers from 0 to 255"),
    (np.array([0, 3, 200], np.uint8), "", r"holds 3 different whole numbers from 0 to 200"),
    (np.array([-1, 0, 1], np.int16), "", r"from -1 to 1"),
    (np.array([0.0, 0.5, 37.5], np.float32), "", r"from 0 to 37.5"),
    (np.array([0, 255], np.uint8), "SCL", r"named a scene classification"),
])
def test_a_mask_of_no_known_meaning_is_refused_naming_it(values, description, expected):
    with pytest.raises(CloudFillError, match=expected) as e:
        mask_meaning(values, description, name="clouds_0421.tif")
    assert "Cloud mask 'clouds_0421.tif'" in str(e.value)
    assert "Give the date's SCL, or a mask with 1 where the clouds are" in str(e.value)


def test_scl_classes_are_parsed_by_one_rule():
    assert parse_scl_classes("3, 8,9;10") == (3, 8, 9, 10)
    assert parse_scl_classes((0, 11)) == (0, 11) and parse_scl_classes("") == ()
    with pytest.raises(CloudFillError, match=r"SCL classes '3,x': 'x' is not a class number"):
        parse_scl_classes("3,x")
    with pytest.raises(CloudFillError, match=r"SCL class 300 does not exist: .* run from 0 to 11"):
        parse_scl_classes("300")
    with pytest.raises(CloudFillError, match=r"SCL class -1 does not exist"):
        parse_scl_classes([3, -1])


def test_gaussian_smooth_keeps_constants_and_mass():
    img = np.full((9, 13), 0.7)
    np.testing.assert_allclose(gaussian_smooth(img, 2.0), 0.7)
    spike = np.zeros((31, 31))
    spike[15, 15] = 1
    out = gaussian_smooth(spike, 2.0)
    assert out.sum() == pytest.approx(1.0)
    assert out[15, 15] == out.max() and out[15, 14] == pytest.approx(out[14, 15])


def test_synthetic_clouds_are_deterministic_for_a_seed():
    a = synthetic_cloud_masks(6, 40, 30, cloud_count=5, seed=3)
    b = synthetic_cloud_masks(6, 40, 30, cloud_count=5, seed=3)
    c = synthetic_cloud_masks(6, 40, 30, cloud_count=5, seed=4)
    assert a.shape == (6, 40, 30) and a.dtype == bool
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    assert a.any()
    # Dates are independent draws, not one mask repeated.
    assert any((a[0] != a[t]).any() for t in range(1, 6))
    # A Generator may be passed instead of a seed.
    g = synthetic_cloud_masks(6, 40, 30, cloud_count=5, seed=np.random.default_rng(3))
    np.testing.assert_array_equal(g, a)


def test_coverage_grows_with_the_number_of_clouds():
    cover = [synthetic_cloud_masks(8, 60, 60, cloud_count=n, seed=0).mean() for n in (1, 5, 20, 50)]
    assert all(a < b for a, b in zip(cover, cover[1:])), cover
    assert cover[0] > 0 and cover[-1] < 1


def test_union_semantics():
    assert not synthetic_cloud_masks(3, 20, 20, cloud_count=0, seed=1).any()
    # Drawing clouds one after another with the same generator: the n-cloud mask is the union
    # of the first n-1 clouds and the n-th.
    h = w = 32
    for n in (1, 2, 4):
        full = synthetic_cloud_mask(h, w, n, np.random.default_rng(9))
        rng = np.random.default_rng(9)
        union = np.zeros((h, w), bool)
        for _ in range(n):
            union |= synthetic_cloud_mask(h, w, 1, rng)
        np.testing.assert_array_equal(full, union)
    more = synthetic_cloud_mask(h, w, 6, np.random.default_rng(9))
    fewer = synthetic_cloud_mask(h, w, 3, np.random.default_rng(9))
    assert (more >= fewer).all() and more.sum() > fewer.sum()


def test_every_scl_default_is_the_one_constant():
    """Prepare, Reconstruct, the stack reader and training take their SCL default from
    clouds.DEFAULT_SCL_MISSING (the same object, not an equal copy)."""
    import inspect

    from smts_cloudfill_plugin.core.prepare.series import prepare_series
    from smts_cloudfill_plugin.core.read.stack import Stack
    from smts_cloudfill_plugin.core.reconstruct import reconstruct
    from smts_cloudfill_plugin.core.training.local import train_on_stacks
    for func in (prepare_series, reconstruct, train_on_stacks):
        assert inspect.signature(func).parameters["scl_classes"].default is DEFAULT_SCL_MISSING
    assert Stack.__dataclass_fields__["scl_classes"].default is DEFAULT_SCL_MISSING


def test_scl_missing_grows_only_the_grown_classes():
    scl = np.full((9, 9), 4, np.uint8)
    scl[2, 2], scl[6, 6], scl[0, 8] = 9, 0, 7
    got = scl_missing(scl, DEFAULT_SCL_MISSING, 1)
    assert np.array_equal(got, dilate(scl == 9, 1) | (scl == 0))   # no data is not grown
    assert np.array_equal(scl_missing(scl, DEFAULT_SCL_MISSING, 0),
                          scl_to_mask(scl))
    assert not scl_missing(scl, (), 2, grown_classes=(9,)).any()
    assert np.array_equal(scl_missing(scl, (0, 9), 1, grown_classes=()), (scl == 0) | (scl == 9))


def test_scl_classes_are_described_from_their_numbers():
    assert set(SCL_CLASS_NAMES) == set(SCL_DEFAULT)
    assert describe_scl_classes(DEFAULT_SCL_MISSING) == (
        "0 (no data), 3 (cloud shadow), 8 (cloud, medium probability), "
        "9 (cloud, high probability), 10 (thin cirrus) and 11 (snow)")
    assert describe_scl_classes([11]) == "11 (snow)"


def test_whole_date_training_hides_one_to_three_whole_dates():
    """Issue 18's training scenario: whole dates (overcast acquisitions), never all but one."""
    from smts_cloudfill_plugin.core.training.data import whole_date_mask
    rng = np.random.default_rng(0)
    counts, in_a_row = set(), 0
    for _ in range(200):
        m = whole_date_mask(6, 8, rng)
        per_date = m.reshape(6, -1)
        assert (per_date.all(1) | ~per_date.any(1)).all()   # each date hidden wholly or not at all
        hidden = np.flatnonzero(per_date.all(1))
        counts.add(len(hidden))
        in_a_row += int(len(hidden) > 1 and (np.diff(hidden) == 1).all())
    assert counts == {1, 2, 3} and in_a_row > 20
