import pytest

from rassflow.config import ConfigError, section_hash, validate


def test_defaults_fill_every_section():
    config = validate({})
    assert config["crossmatch"]["radius_arcsec"] == 8.0
    assert config["images"]["bands_keV"] == [[0.5, 2.0], [1.0, 2.0]]
    assert config["spectra"]["wmap_binning"] == 90
    assert config["fit"]["energy_range_keV"] == [0.11, 2.02]


@pytest.mark.parametrize(
    "config, key",
    [
        ({"fitt": {}}, "'fitt'"),
        ({"fit": {"modls": ["bbody"]}}, "'fit.modls'"),
        ({"fit": {"models": ["mekal"]}}, "'fit.models[0]'"),
        ({"images": {"bands_keV": [[0.5, 2.0], [2.0, 1.0]]}}, "'images.bands_keV[1]'"),
        ({"images": {"bands_keV": []}}, "'images.bands_keV'"),
        ({"images": {"binnings": [0]}}, "'images.binnings[0]'"),
        ({"regions": {"source_radius_arcmin": -2}}, "'regions.source_radius_arcmin'"),
        ({"grouping": {"min_counts": "three"}}, "'grouping.min_counts'"),
        ({"fit": {"energy_range_keV": [2.0, 0.1]}}, "'fit.energy_range_keV'"),
        ({"sample": {"source": "file"}}, "'sample.file'"),
    ],
)
def test_bad_config_names_the_key(config, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        validate(config)


def test_section_hash_changes_only_with_its_sections():
    a = validate({})
    b = validate({"fit": {"flux_confidence": 90}})
    assert section_hash(a, "images") == section_hash(b, "images")
    assert section_hash(a, "fit") != section_hash(b, "fit")


def test_an_unquoted_no_as_column_name_says_how_to_quote_it():
    import yaml

    from rassflow.config import ConfigError, validate

    with pytest.raises(ConfigError, match=r"sample\.id_column.*YAML boolean False.*\"No\""):
        validate(yaml.safe_load("sample: {source: file, file: s.csv, id_column: No}"))
    quoted = validate(yaml.safe_load('sample: {source: file, file: s.csv, id_column: "No"}'))
    assert quoted["sample"]["id_column"] == "No"
