"""Every model the fitters use, against XSPEC 12.15's own model functions.

The native path (rassflow.fitting.models, and the Sherpa fitter's model classes built on
it) and XSPEC's compiled functions from the xspectrampoline package (``xsblbd_`` for
bbody, ``C_powerLaw``, ``C_tbabs``, ``xsphab_``) are evaluated on the real PSPC-C energy
grid (../shared/reference/pspcc_gain1_256.rsp, 729 bins; skipped when absent) and on coarse
grids, over the parameter ranges the fits explore (the start grids, the soft limits, nH
0-10 x 10^22 cm^-2). XSPEC's Fortran models (bbody, phabs) compute in single precision,
so their tolerances are single-precision ones. The largest relative difference per model
is printed (pytest -s).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rassflow.fitting import absorption, models

pytestmark = pytest.mark.skipif(not absorption.installed(), reason=absorption.INSTALL_HINT)

REFERENCE_RSP = Path(__file__).resolve().parents[3] / "shared" / "reference" / "pspcc_gain1_256.rsp"
# Only bins whose XSPEC value is above this fraction of the largest are compared relatively:
# XSPEC's single-precision bbody underflows to 0 far in the Wien tail (E/kT > 60: 0 in both).
RELATIVE_FLOOR = 1.0e-30
# Transmissions below this are compared absolutely (to 1e-6): XSPEC's phabs computes
# exp(-nH sigma) in single precision, whose relative error grows as nH sigma x 6e-8.
TRANSMISSION_FLOOR = 1.0e-6
TOLERANCE = {  # largest relative difference per bin allowed
    "bbody": 1.0e-5,  # single precision (measured 1.7e-6 on the PSPC-C grid)
    # kT 20-100 keV: XSPEC's single-precision exp(x) - 1 cancels at small x = E/kT, a
    # relative error of ~6e-8 / x (7.7e-4 at 0.077 keV and 100 keV)
    "bbody kT 20-100 keV": 2.0e-4,
    "powerlaw": 1.0e-9,
    "tbabs": 1.0e-12,
    "phabs": 1.0e-5,  # single precision
}
KT_VALUES = np.concatenate([models.START_GRIDS["bbody"], [0.01, 5.0]])
HOT_KT_VALUES = (20.0, 100.0)  # the soft upper limit of kT in both fitters is 100 keV
GAMMA_VALUES = np.concatenate([models.START_GRIDS["powerlaw"], [-2.0, 1.0, 7.5, 9.0]])
NH_VALUES = (0.0, 1.0e-4, 0.003, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
LARGEST: dict[str, float] = {}


def _grids():
    grids = {
        "coarse-log-12": np.geomspace(0.05, 3.0, 13),
        "coarse-lin-8": np.linspace(0.1, 2.5, 9),
        "fine-log-300": np.geomspace(0.07, 3.0, 301),
    }
    if REFERENCE_RSP.is_file():
        from rassflow.photometry.conversion import read_response

        response = read_response(REFERENCE_RSP)
        grids["PSPC-C"] = np.append(response.energ_lo, response.energ_hi[-1])
    return grids


GRIDS = _grids()


@pytest.fixture(params=["coarse-log-12", "coarse-lin-8", "fine-log-300", "PSPC-C"])
def grid(request):
    """(name, lo, hi) of an energy grid (keV). XSPEC's Fortran models take the edges in
    single precision (a 7 eV bin at 0.56 keV then changes width by ~5e-6), so the grids are
    single-precision numbers, as the PSPC-C response's E columns are."""
    if request.param not in GRIDS:
        pytest.skip(f"reference response not available at {REFERENCE_RSP} (a plain clone has none)")
    edges = GRIDS[request.param].astype(np.float32).astype(float)
    return request.param, edges[:-1], edges[1:]


def relative_difference(ours, theirs, floor: float = RELATIVE_FLOOR) -> float:
    """Largest |ours/theirs - 1| over bins where XSPEC's value is above ``floor`` times its
    largest; a bin that one side gives as 0 and the other not counts as 1."""
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    scale = np.max(np.abs(theirs)) if theirs.size else 0.0
    compared = np.abs(theirs) > floor * scale
    mismatch = (~compared) & (np.abs(ours) > 1.0e-6 * max(scale, 1e-300))
    worst = float(np.max(np.abs(ours[compared] / theirs[compared] - 1.0), initial=0.0))
    return max(worst, 1.0 if mismatch.any() else 0.0)


def record(name: str, where: str, difference: float, tolerance: float | None = None) -> None:
    LARGEST[name] = max(LARGEST.get(name, 0.0), difference)
    tolerance = TOLERANCE[name] if tolerance is None else tolerance
    assert difference <= tolerance, f"{name} on {where}: relative difference {difference:.3g}"


def xspec_bbody(lo, hi, kT):
    return absorption.evaluate("xsblbd_", lo, hi, [kT])


def xspec_powerlaw(lo, hi, gamma):
    return absorption.evaluate("C_powerLaw", lo, hi, [gamma])


XSPEC_ADDITIVE = {"bbody": xspec_bbody, "powerlaw": xspec_powerlaw}
SHAPES = {"bbody": KT_VALUES, "powerlaw": GAMMA_VALUES}


@pytest.mark.parametrize("name", ["bbody", "powerlaw"])
def test_additive_models_are_xspecs(grid, name):
    where, lo, hi = grid
    worst = 0.0
    for shape in SHAPES[name]:
        ours = models.photon_flux(name, (shape, 1.0), lo, hi)  # XSPEC's functions: norm 1
        theirs = XSPEC_ADDITIVE[name](lo, hi, shape)
        worst = max(worst, relative_difference(ours, theirs))
    record(name, where, worst)
    if name == "bbody":
        hot = [
            relative_difference(models.photon_flux(name, (kt, 1.0), lo, hi),
                                xspec_bbody(lo, hi, kt))
            for kt in HOT_KT_VALUES
        ]  # fmt: skip
        record("bbody kT 20-100 keV", where, max(hot))


@pytest.mark.parametrize(
    ("absorber", "abundances", "cross_sections"),
    [("tbabs", "wilm", "vern"), ("tbabs", "angr", "vern"), ("phabs", "wilm", "vern"),
     ("phabs", "angr", "bcmc")],
)  # fmt: skip
def test_absorption_is_xspecs(grid, absorber, abundances, cross_sections):
    """The transmission the fitters use (exp(-nH sigma), sigma read off XSPEC's function)
    equals a direct call of XSPEC's function at every column."""
    where, lo, hi = grid
    worst = 0.0
    for nh in NH_VALUES:
        ours = absorption.transmission(absorber, lo, hi, nh, abundances, cross_sections)
        theirs = absorption.xspec_transmission(absorber, lo, hi, nh, abundances, cross_sections)
        worst = max(worst, relative_difference(ours, theirs, TRANSMISSION_FLOOR))
        # the opaque bins too: within single precision of XSPEC's value
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1.0e-6)
    record(absorber, f"{where} ({abundances}, {cross_sections})", worst)


@pytest.mark.parametrize("name", [m for m in models.MODELS if models.absorber(m)])
def test_absorbed_models_are_xspecs_product(grid, name):
    """tbabs*bbody etc. as the Sherpa fitter evaluates them (its model class) and as the
    library computes them (models.photon_flux) against XSPEC's absorber times XSPEC's
    additive model, bin by bin, as XSPEC multiplies components on one grid."""
    from rassflow.fitting.sherpa import make_model

    where, lo, hi = grid
    absorber, base = models.absorber(name), models.base_model(name)
    settings = {"nh": "free", "nh_bounds": [0.0, 10.0], "abundances": "wilm",
                "cross_sections": "vern"}  # fmt: skip
    sherpa_model = make_model(name, settings)
    worst = 0.0
    for nh in (0.0, 0.01, 0.3, 3.0):
        for shape in SHAPES[base][::4]:
            theirs = absorption.xspec_transmission(absorber, lo, hi, nh) * XSPEC_ADDITIVE[base](
                lo, hi, shape
            )
            ours = models.photon_flux(name, (nh, shape, 1.0), lo, hi)
            sherpa_model.nH.val = nh
            getattr(sherpa_model, models.shape_parameter(name)).val = shape
            sherpa_model.norm.val = 1.0
            np.testing.assert_array_equal(sherpa_model(lo, hi), ours)
            worst = max(worst, relative_difference(ours, theirs, TRANSMISSION_FLOOR))
    # relative errors of the factors add up in the product
    record(name, where, worst, TOLERANCE[absorber] + TOLERANCE[base])


def test_parameter_names_units_and_limits_are_xspecs():
    """model.dat of the XSPEC the package ships: parameter names, units and hard limits of
    the models, as both fitters write them."""
    from importlib.util import find_spec

    from rassflow.fitting.sherpa import make_model

    root = Path(find_spec("xspectrampoline").origin).parent
    model_dat = next(root.glob("LibXSPEC_*/spectral/manager/model.dat")).read_text().splitlines()

    def entry(xspec_name):
        start = next(i for i, line in enumerate(model_dat) if line.split()[:1] == [xspec_name])
        n = int(model_dat[start].split()[1])
        return [line.split() for line in model_dat[start + 1 : start + 1 + n]]

    (nh,) = entry("TBabs")
    assert nh[:2] == ["nH", "10^22"] and float(nh[3]) == 0.0 and float(nh[6]) == 1.0e6
    assert entry("phabs")[0][:2] == ["nH", "10^22"]
    (kt,) = entry("bbody")
    assert kt[:2] == ["kT", "keV"] and (float(kt[3]), float(kt[6])) == (1.0e-4, 200.0)
    (gamma,) = entry("powerlaw")  # unit '" "' (none): two tokens
    assert gamma[0] == "PhoIndex" and (float(gamma[4]), float(gamma[7])) == (-3.0, 10.0)
    settings = {"nh": 0.1, "nh_bounds": [0.0, 10.0], "abundances": "wilm", "cross_sections": "vern"}
    for name in ("tbabs*bbody", "phabs*powerlaw"):
        model = make_model(name, settings)
        assert [p.name for p in model.pars] == list(models.MODELS[name]["parameters"])
        assert model.nH.hard_max == 1.0e6 and model.nH.frozen  # a fixed nH: XSPEC's limits
    assert make_model("bbody", {}).kT.hard_min == 1.0e-4


def test_xspec_version_and_settings_are_recorded():
    assert absorption.version().startswith("12.15")
    record = absorption.provenance("tbabs", "wilm", "vern")
    assert record["abundances"] == "wilm" and "12.15" in record["library"]
    assert "Wilms" in record["reference"]
    absorption.configure("angr", "bcmc")
    functions = absorption.library().lib_xs_functions
    assert (functions.FGSOLR(), functions.FGXSCT()) == (b"angr", b"bcmc")
    absorption.configure("wilm", "vern")
    with pytest.raises(ValueError, match="unknown abundance table"):
        absorption.configure("solar", "vern")


def test_the_settings_reach_xspecs_functions():
    """wilm has fewer metals than angr (Wilms et al. 2000), so tbabs absorbs less with it;
    tbabs ignores xsect, phabs does not."""
    edges = np.geomspace(0.1, 2.4, 25)
    lo, hi = edges[:-1], edges[1:]

    def through(absorber, abundances, cross_sections):
        return absorption.xspec_transmission(absorber, lo, hi, 0.3, abundances, cross_sections)

    assert np.all(through("tbabs", "wilm", "vern") > through("tbabs", "angr", "vern"))
    np.testing.assert_array_equal(
        through("tbabs", "wilm", "bcmc"), through("tbabs", "wilm", "vern")
    )
    bcmc, vern = through("phabs", "angr", "bcmc"), through("phabs", "angr", "vern")
    assert np.max(np.abs(bcmc - vern)) > 1e-3
    # the cached cross-sections are kept per setting
    assert not np.array_equal(
        absorption.transmission("tbabs", lo, hi, 0.3, "angr"),
        absorption.transmission("tbabs", lo, hi, 0.3, "wilm"),
    )


def test_print_the_largest_differences():
    """Runs last in this module: the largest relative difference per model seen above."""
    if not LARGEST:
        pytest.skip("no agreement test ran before this one")
    print("\nlargest relative difference per bin, native vs XSPEC 12.15:")
    for name, value in sorted(LARGEST.items()):
        print(f"  {name:16s} {value:.3g}")
