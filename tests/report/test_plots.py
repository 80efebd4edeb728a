"""Figures: each writes a real, non-blank PNG, also for degenerate inputs."""

from __future__ import annotations

import json

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from rassflow.files import compress_file
from rassflow.fitting.models import MODELS
from rassflow.fitting.result import (
    FLAGS_OK,
    CountsResult,
    FitResult,
    ModelResult,
    ParameterResult,
    PlotData,
)
from rassflow.report.plots import (
    apply_cuts,
    plot_cutouts,
    plot_image_grid,
    plot_parameter_histograms,
    plot_spectra,
    plot_spectrum,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_real_png(path):
    assert path.read_bytes()[:8] == PNG_MAGIC
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels[..., :3].var() > 0


def write_image(path, ra, dec, pixel_arcsec=45.0, size=64, seed=0):
    """A RASS-like counts image, north up, centred on (ra, dec)."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [size / 2 + 0.5, size / 2 + 0.5]
    wcs.wcs.cdelt = [-pixel_arcsec / 3600, pixel_arcsec / 3600]
    data = np.random.default_rng(seed).poisson(0.3, (size, size)).astype(np.int16)
    data[size // 2 - 1 : size // 2 + 2, size // 2 - 1 : size // 2 + 2] += 20  # a source
    fits.PrimaryHDU(data, header=wcs.to_header()).writeto(path)
    return path


@pytest.fixture
def sample_csv(tmp_path):
    path = tmp_path / "sample.csv"
    pd.DataFrame(
        {
            "id_name": ["CARMENES-10", "CARMENES-2", "CARMENES-3", "CARMENES-4"],
            "ra": [10.0, 10.02, 200.0, 50.0],
            "dec": [20.0, 20.01, -30.0, 5.0],
            "seq_id": ["RS930001N00", "RS930001N00", "RS930001N00", "RS930002N00"],
        }
    ).to_csv(path, index=False)
    return path


def test_cutouts_with_off_image_and_missing_image(sample_csv, tmp_path):
    image = write_image(tmp_path / "rs930001n00_im1.fits", 10.0, 20.0)
    compressed = compress_file(image, tmp_path / "rs930001n00_im1.fits.Z")
    out = tmp_path / "figs" / "cutouts.png"
    written = plot_cutouts(
        sample_csv,
        {"RS930001N00": compressed, "RS930002N00": tmp_path / "absent_im1.fits"},
        out,
    )
    assert written == [out]
    assert_real_png(out)


def test_cutouts_continue_on_further_pages(sample_csv, tmp_path):
    image = write_image(tmp_path / "im1.fits", 10.0, 20.0)
    out = tmp_path / "cutouts.png"
    written = plot_cutouts(sample_csv, {"RS930001N00": image}, out, max_per_page=3)
    assert written == [out, tmp_path / "cutouts_page2.png"]
    for path in written:
        assert_real_png(path)


def test_image_grid_bands_by_binnings(tmp_path):
    images = []
    for row, (lo, hi) in enumerate([(0.1, 0.4), (0.5, 2.0)]):
        for binning, pixel_arcsec in ((90, 45.0), (120, 60.0)):
            path = tmp_path / f"img_{lo}_{hi}_{binning}.fits"
            write_image(path, 10.0, 20.0, pixel_arcsec, seed=row + binning)
            images.append((lo, hi, binning, path))
    out = tmp_path / "grid.png"
    plot_image_grid(images, out, "RS930001N00")
    assert_real_png(out)
    with pytest.raises(FileNotFoundError, match="RS930001N00"):
        plot_image_grid([(0.1, 2.4, 90, tmp_path / "nothing.fits")], out, "RS930001N00")


def fit_result(id_name, statuses=("ok", "ok")):
    x = np.geomspace(0.15, 1.9, 12)
    data = (x, 0.05 * x, 3 * np.exp(-x / 0.3), 0.3 + 0 * x)
    models = {}
    for name, status in zip(("bbody", "powerlaw"), statuses, strict=True):
        if status == "ok":
            shape, norm = MODELS[name]["parameters"]
            shape_unit = MODELS[name]["units"][0]
            parameters = {
                shape: ParameterResult.from_bounds(0.11, None, None, FLAGS_OK, shape_unit),
                norm: ParameterResult.from_bounds(2e-5, None, None, FLAGS_OK, ""),
            }
            plot = PlotData.from_arrays(*data, model=3 * np.exp(-x / 0.31))
            models[name] = ModelResult.ok(12.3, 10, None, parameters, {}, plot)
        else:
            reason = "2 groups noticed, need more than 2"
            models[name] = ModelResult.unfitted(name, status, reason)
    return FitResult(
        id_name=id_name,
        fitter="sherpa",
        fitter_version="4.19.0",
        statistic="wstat",
        counts=CountsResult(source=40, background=12, backscal_ratio=0.9),
        exposure_s=350.0,
        noticed_groups=12,
        noticed_channels=30,
        models=models,
    )


def test_spectrum_with_models_and_without(tmp_path):
    path = tmp_path / "CARMENES-2.json"
    fit_result("CARMENES-2").write(path)
    plot_spectrum(path, tmp_path / "fitted.png")
    assert_real_png(tmp_path / "fitted.png")
    plot_spectrum(fit_result("CARMENES-7", ("not_fitted", "not_fitted")), tmp_path / "none.png")
    assert_real_png(tmp_path / "none.png")
    plot_spectrum(fit_result("CARMENES-8", ("ok", "failed")).to_json(), tmp_path / "one.png")
    assert_real_png(tmp_path / "one.png")


def test_spectra_one_png_per_source(tmp_path):
    paths = []
    for id_name in ("CARMENES-2", "CARMENES-10"):
        path = tmp_path / f"{id_name}.json"
        fit_result(id_name).write(path)
        paths.append(path)
    written = plot_spectra(paths, tmp_path / "spectra")
    assert sorted(p.name for p in written) == ["CARMENES-10.png", "CARMENES-2.png"]
    for path in written:
        assert_real_png(path)


def test_spectra_reject_an_invalid_fit_result(tmp_path):
    data = fit_result("CARMENES-2").to_json()
    del data["id_name"]
    path = tmp_path / "CARMENES-2.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"CARMENES-2\.json: id_name: missing"):
        plot_spectra([path], tmp_path / "spectra")


@pytest.fixture
def results_csv(tmp_path):
    rng = np.random.default_rng(3)
    n = 30
    kt = rng.uniform(0.08, 0.3, n)
    index = rng.uniform(1.5, 4.0, n)
    table = pd.DataFrame(
        {
            "id_name": [f"CARMENES-{i}" for i in range(n)],
            "bbody_kT": kt,
            "bbody_kT_err-": 0.2 * kt,
            "bbody_kT_err+": 0.2 * kt,
            "bbody_kT_good_err": [i % 5 != 0 for i in range(n)],  # 6 flagged
            "bbody_status": ["ok"] * (n - 2) + ["failed", "missing"],
            "powerlaw_PhoIndex": index,
            "powerlaw_PhoIndex_err-": 0.3 * index,
            "powerlaw_PhoIndex_err+": 2.5 * index,  # relative error 1.4 for all but 4
            "powerlaw_PhoIndex_good_err": True,
            "powerlaw_status": "ok",
        }
    )
    table.loc[:3, "powerlaw_PhoIndex_err+"] = 0.3 * index[:4]
    path = tmp_path / "results.csv"
    table.to_csv(path, index=False)
    return path


def test_parameter_histograms_state_the_cuts(results_csv, tmp_path):
    out = tmp_path / "hist.png"
    summary = plot_parameter_histograms(results_csv, out, {"max_relative_error": 1.0})
    assert_real_png(out)
    kt_steps = dict(summary["bbody_kT"])
    assert kt_steps["sources"] == 30
    assert kt_steps["status ok"] == 28
    assert kt_steps["good_err"] == 22  # rows 0, 5, ..., 25 are flagged
    assert summary["bbody_kT"][-1][1] == 22
    assert summary["powerlaw_PhoIndex"][-1][1] == 4


def test_histograms_when_nothing_passes(results_csv, tmp_path):
    out = tmp_path / "empty.png"
    summary = plot_parameter_histograms(results_csv, out, {"status": "not_a_status"})
    assert_real_png(out)
    assert all(steps[-1][1] == 0 for steps in summary.values())


def test_unknown_cut_is_an_error(results_csv):
    with pytest.raises(KeyError, match="max_chi2"):
        apply_cuts(pd.read_csv(results_csv), "bbody", "kT", {"max_chi2": 2})


def test_histograms_with_one_model_only(tmp_path):
    import pandas as pd

    from rassflow.report.plots import plot_parameter_histograms

    table = pd.DataFrame(
        {
            "id_name": ["S1", "S2"],
            "bbody_kT": [0.1, 0.2],
            "bbody_kT_err-": [0.01, 0.02],
            "bbody_kT_err+": [0.01, 0.02],
            "bbody_kT_good_err": [True, True],
            "bbody_status": ["ok", "ok"],
        }
    )
    table.to_csv(tmp_path / "results.csv", index=False)
    summary = plot_parameter_histograms(tmp_path / "results.csv", tmp_path / "h.png")
    assert list(summary) == ["bbody_kT"]
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
