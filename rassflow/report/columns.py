"""Units and descriptions of table columns, shared by the results and the photometry tables.

Each table describes its fixed columns as a text table, one column a line::

    name | unit | description

(an empty unit for numbers without one, flags and text; the description may itself hold a
``|``). :func:`column_table` reads it into ``{name: (unit, description)}`` in line order, which
the tables use for TUNITn and TCOMMn and, where a group of columns is listed in table order,
for the column order too. Columns whose names depend on the models or bands are described
by the table modules themselves.
"""

from __future__ import annotations

__all__ = [
    "COUNT",
    "DISTANCE_COLUMN",
    "FLUX",
    "LUMINOSITY",
    "PARSEC_CM",
    "RATE",
    "SAMPLE_POSITION",
    "column_table",
    "described_hdu",
    "distance_source",
]

PARSEC_CM = 3.0857e18  # cm per parsec
DISTANCE_COLUMN = "distance_pc"
COUNT, RATE, FLUX, LUMINOSITY = "count", "count/s", "erg/(cm2 s)", "erg/s"


def column_table(text: str) -> dict[str, tuple[str, str]]:
    """``{name: (unit, description)}`` from lines ``name | unit | description`` (blank lines
    are skipped); ValueError for a line without both separators or a repeated name."""
    table: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split("|", 2)]
        if len(parts) != 3 or not parts[0]:
            raise ValueError(f"column table line {line.strip()!r}: expected name | unit | text")
        name, unit, description = parts
        if name in table:
            raise ValueError(f"column table: {name!r} is described twice")
        table[name] = (unit, description)
    return table


SAMPLE_POSITION = column_table(
    """
    ra  | deg | sample right ascension (J2000)
    dec | deg | sample declination (J2000)
    """
)
"""The sample position, a column pair of both tables."""


def distance_source(parallax_column=None, distance_column=None) -> str | None:
    """Where a table's ``distance_pc`` comes from (its DISTSRC keyword); None: no distance."""
    if parallax_column:
        return f"parallax column {parallax_column} (mas)"
    if distance_column:
        return f"distance column {distance_column} (pc)"
    return None


def described_hdu(table, describe, extname: str):
    """The astropy Table ``table`` as a FITS BinTable HDU named ``extname``, with TUNITn and
    TCOMMn of every column from ``describe(name) -> (unit, description)`` (an empty unit or
    description: none written)."""
    from astropy.io import fits

    descriptions = {name: describe(name) for name in table.colnames}
    for name, (unit, _) in descriptions.items():
        table[name].unit = unit or None
    hdu = fits.table_to_hdu(table)
    hdu.name = extname
    for number, name in enumerate(table.colnames, start=1):
        comment = descriptions[name][1]
        if comment:  # astropy gathers these after the column cards on writing
            hdu.header[f"TCOMM{number}"] = comment
    return hdu
