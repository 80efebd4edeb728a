"""Local HTTP(S) servers that answer like VizieR, HEASARC TAP/datalink, the archive and CALDB.

Each server is a real ``ThreadingHTTPServer`` on 127.0.0.1 with an ephemeral port, used as
a context manager. ``server.hits`` counts requests per path; ``server.faults[path]`` is a
list of faults served (one per request, in order) before the normal answer:
``"500"`` (an internal error), ``"404"`` and ``"cut"`` (the normal headers with the full
Content-Length, then half the body and a closed connection).
"""

from __future__ import annotations

import collections
import email.parser
import email.policy
import html
import io
import re
import ssl
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io.votable import parse_single_table
from astropy.io.votable.tree import Info, Resource, TableElement, VOTableFile
from astropy.table import Table

LOCALHOST = "127.0.0.1"


class Reply:
    def __init__(self, status=200, body=b"", content_type="text/plain"):
        self.status, self.body, self.content_type = status, body, content_type


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        self._serve(b"")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        self._serve(self.rfile.read(length))

    def _serve(self, body: bytes):
        server = self.server.owner
        path = urllib.parse.urlsplit(self.path).path
        with server.lock:
            server.hits[path] += 1
            pending = server.faults.get(path)
            fault = pending.pop(0) if pending else None
        if fault in ("500", "404"):
            status = int(fault)
            self._send(Reply(status, f"{status} injected for {path}\n".encode()))
            return
        try:
            reply = server.app(self, body)
        except Exception as exc:  # noqa: BLE001 - report server bugs as 500, visibly
            reply = Reply(500, f"server error: {exc!r}\n".encode())
        if fault == "cut":
            self._send(reply, cut=True)
        else:
            self._send(reply)

    def _send(self, reply: Reply, cut: bool = False):
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        if cut:
            self.send_header("Connection", "close")
        self.end_headers()
        if cut:
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(reply.body)


class LocalServer:
    """A threaded HTTP server calling ``app(handler, body) -> Reply``; TLS with ``ssl_context``."""

    def __init__(self, app, ssl_context: ssl.SSLContext | None = None):
        self.app = app
        self.hits: collections.Counter = collections.Counter()
        self.faults: dict[str, list[str]] = {}
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((LOCALHOST, 0), _Handler)
        self._httpd.owner = self
        self._httpd.daemon_threads = True
        if ssl_context is not None:
            self._httpd.socket = ssl_context.wrap_socket(self._httpd.socket, server_side=True)
        scheme = "https" if ssl_context is not None else "http"
        self.host = f"{LOCALHOST}:{self._httpd.server_address[1]}"
        self.url = f"{scheme}://{self.host}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


# --- request bodies and VOTables ----------------------------------------------------------


def form_fields(handler, body: bytes) -> dict[str, list]:
    """Fields of a urlencoded or multipart POST (and of the query string): name -> values."""
    fields = collections.defaultdict(list)
    for key, values in urllib.parse.parse_qs(urllib.parse.urlsplit(handler.path).query).items():
        fields[key].extend(values)
    content_type = handler.headers.get("Content-Type", "")
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            is_file = part.get_filename() is not None
            fields[name].append(payload if is_file else payload.decode())
    elif body:
        for key, values in urllib.parse.parse_qs(body.decode(), keep_blank_values=True).items():
            fields[key].extend(values)
    return fields


def votable_bytes(
    tables: dict[str, Table],
    resource_name: str = "results",
    infos: dict[str, str] | None = None,
    units: dict[str, str] | None = None,
) -> bytes:
    """A VOTable document with one RESOURCE holding ``tables`` (name -> Table).

    ``units`` sets FIELD units astropy cannot express (VizieR's 'h:m:s', 'd:m:s').
    """
    document = VOTableFile()
    resource = Resource(name=resource_name, type="results")
    document.resources.append(resource)
    for key, value in (infos or {}).items():
        resource.infos.append(Info(ID=re.sub(r"\W+", "_", key).strip("_"), name=key, value=value))
    for name, table in tables.items():
        element = TableElement.from_table(document, table)
        element.name = name
        resource.tables.append(element)
    buffer = io.BytesIO()
    document.to_xml(buffer)
    text = buffer.getvalue().decode()
    for column, unit in (units or {}).items():
        text = re.sub(rf'(<FIELD[^>]*name="{re.escape(column)}")', rf'\1 unit="{unit}"', text)
    return text.encode()


def votable_error(message: str) -> Reply:
    """A DALI error document, as TAP services answer a query they cannot run."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n'
        '<RESOURCE type="results">\n'
        f'<INFO name="QUERY_STATUS" value="ERROR">{html.escape(message)}</INFO>\n'
        "</RESOURCE>\n</VOTABLE>\n"
    )
    return Reply(400, body.encode(), "application/x-votable+xml")


def _votable_reply(tables, **kwargs) -> Reply:
    return Reply(200, votable_bytes(tables, **kwargs), "application/x-votable+xml")


# --- VizieR -------------------------------------------------------------------------------


class VizierApp:
    """``/viz-bin/votable``: the tables of one catalog, named '<catalog>/<table>' as VizieR does.

    ``sexagesimal`` columns get VizieR's 'h:m:s' (RA) / 'd:m:s' (Dec) FIELD units.
    """

    def __init__(self, catalog: str, tables: dict[str, Table], sexagesimal=()):
        self.catalog, self.tables = catalog, tables
        self.units = {c: ("h:m:s" if c.upper().startswith("RA") else "d:m:s") for c in sexagesimal}
        self.requests: list[dict] = []

    def __call__(self, handler, body):
        path = urllib.parse.urlsplit(handler.path).path
        if path != "/viz-bin/votable":
            return Reply(404, b"not found\n")
        fields = vizier_script(body)
        self.requests.append(fields)
        if self.catalog not in fields.get("-source", [""])[0].split():
            return _votable_reply({}, resource_name="none")
        named = {f"{self.catalog}/{name}": table for name, table in self.tables.items()}
        return _votable_reply(
            named,
            resource_name=self.catalog,
            units=self.units,
            infos={"-out.max": fields.get("-out.max", [""])[0]},
        )


def vizier_script(body: bytes) -> dict[str, list]:
    """astroquery posts a VizieR script: one '-key=value' (or bare '-key') per line."""
    fields = collections.defaultdict(list)
    for line in body.decode().splitlines():
        key, _, value = line.strip().partition("=")
        if key:
            fields[key].append(value)
    return fields


def tls_context():
    """(server SSLContext, CA bundle PEM path) for 127.0.0.1, from a throw-away trustme CA."""
    import tempfile

    import trustme

    authority = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert(LOCALHOST, "localhost").configure_cert(context)
    handle = tempfile.NamedTemporaryFile(suffix=".pem", delete=False)
    handle.write(authority.cert_pem.bytes())
    handle.close()
    return context, handle.name


# --- HEASARC TAP and datalink ------------------------------------------------------------

_CROSSMATCH = re.compile(
    r"SELECT\s+(?P<select>.+?)\s+FROM\s+tap_upload\.(?P<upload>\w+)\s+AS\s+(?P<ua>\w+)\s*,\s*"
    r"(?P<table>\w+)\s+AS\s+(?P<ta>\w+)\s+WHERE\s+CONTAINS\s*\(\s*POINT\s*\(\s*'ICRS'\s*,\s*"
    r"(?P=ta)\.(?P<tra>\w+)\s*,\s*(?P=ta)\.(?P<tdec>\w+)\s*\)\s*,\s*CIRCLE\s*\(\s*'ICRS'\s*,\s*"
    r"(?P=ua)\.(?P<ura>\w+)\s*,\s*(?P=ua)\.(?P<udec>\w+)\s*,\s*(?P<radius>[-+0-9.eE]+)\s*\)\s*\)"
    r"\s*=\s*1\s*$",
    re.I | re.S,
)
_SELECT_IN = re.compile(
    r"SELECT\s+\*\s+FROM\s+(?P<table>\w+)\s+WHERE\s+(?P<column>\w+)\s+IN\s*\((?P<values>.*)\)\s*$",
    re.I | re.S,
)


_SELECT_COLUMNS = re.compile(
    r"SELECT\s+(?P<columns>[\w\s,]+?)\s+FROM\s+(?P<table>\w+)\s*$", re.I | re.S
)


class HeasarcApp:
    """``/tap/sync``, ``/tap/tables`` and ``/datalink/<table>`` over in-memory tables.

    Tables get HEASARC's ``__row`` column. Two query shapes are run for real: an upload
    cross-match (a POINT in a CIRCLE around each uploaded row; result columns prefixed by
    table alias + '_', uploaded names lower-cased), ``SELECT * FROM t WHERE c IN (...)`` and
    ``SELECT a, b FROM t``.
    At most ``max_rows`` rows come back (then QUERY_STATUS is OVERFLOW). Datalink answers
    rassmaster rows with their skyfield directory under ``archive_url``.
    """

    def __init__(self, tables: dict[str, Table], archive_url: str = "", max_rows: int = 100000):
        self.tables = {}
        for name, table in tables.items():
            table = table.copy()
            table.add_column(np.arange(1, len(table) + 1, dtype=np.int64), name="__row", index=0)
            self.tables[name] = table
        self.archive_url, self.max_rows = archive_url, max_rows
        self.queries: list[str] = []

    def __call__(self, handler, body):
        path = urllib.parse.urlsplit(handler.path).path
        if path == "/tap/tables":
            return Reply(200, self._tableset(), "text/xml")
        if path == "/tap/sync":
            return self._sync(form_fields(handler, body))
        if path.startswith("/datalink/"):
            return self._datalink(path.split("/")[-1], form_fields(handler, body))
        return Reply(404, f"no such path {path}\n".encode())

    def _tableset(self) -> bytes:
        names = "".join(f"<table><name>{n}</name></table>" for n in self.tables)
        return (
            '<?xml version="1.0"?><vtm:tableset xmlns:vtm="http://www.ivoa.net/xml/VOSITables/v1.0"'
            ' xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1">'
            f"<schema><name>public</name>{names}</schema></vtm:tableset>"
        ).encode()

    def _sync(self, fields) -> Reply:
        query = fields.get("QUERY", [""])[0].strip()
        self.queries.append(query)
        if fields.get("REQUEST", ["doQuery"])[0] != "doQuery" or fields.get("LANG", ["ADQL"])[
            0
        ].upper() not in ("ADQL", "ADQL-2.0"):
            return votable_error("only REQUEST=doQuery, LANG=ADQL are supported")
        if match := _CROSSMATCH.match(query):
            result = self._crossmatch(match, fields)
        elif match := _SELECT_IN.match(query):
            result = self._select_in(match)
        elif match := _SELECT_COLUMNS.match(query):
            result = self._select_columns(match)
        else:
            return votable_error(f"query not understood by the test server: {query}")
        if isinstance(result, Reply):
            return result
        status = "OK"
        limit = min(self.max_rows, int(fields.get("MAXREC", [self.max_rows])[0]))
        if len(result) > limit:
            result, status = result[:limit], "OVERFLOW"
        return _votable_reply({"result": result}, infos={"QUERY_STATUS": status})

    def _uploaded(self, fields, name) -> Table | Reply:
        declared = dict(
            item.split(",", 1) for item in fields.get("UPLOAD", [""])[0].split(";") if "," in item
        )
        if name not in declared or not declared[name].startswith("param:"):
            return votable_error(f"upload {name} not declared in UPLOAD")
        content = fields.get(declared[name].removeprefix("param:"), [None])[0]
        if not isinstance(content, bytes):
            return votable_error(f"upload {name}: no file part")
        table = parse_single_table(io.BytesIO(content)).to_table()
        table.rename_columns(table.colnames, [c.lower() for c in table.colnames])
        return table

    def _crossmatch(self, match, fields):
        upload = self._uploaded(fields, match["upload"].lower())
        if isinstance(upload, Reply):
            return upload
        table = self.tables.get(match["table"].lower())
        if table is None:
            return votable_error(f"no table {match['table']}")
        radius_deg = float(match["radius"])
        ua, ta = match["ua"].lower(), match["ta"].lower()
        # columns are in degrees, with or without a unit of their own
        stars = SkyCoord(
            np.asarray(upload[match["ura"].lower()], float) * u.deg,
            np.asarray(upload[match["udec"].lower()], float) * u.deg,
        )
        xray = SkyCoord(
            np.asarray(table[match["tra"]], float) * u.deg,
            np.asarray(table[match["tdec"]], float) * u.deg,
        )
        star_index, xray_index, _, _ = xray.search_around_sky(stars, radius_deg * u.deg)
        order = np.lexsort((xray_index, star_index))
        star_index, xray_index = star_index[order], xray_index[order]
        columns = {}
        for item in (s.strip() for s in match["select"].split(",")):
            alias, _, column = item.partition(".")
            source, index = (upload, star_index) if alias.lower() == ua else (table, xray_index)
            if alias.lower() not in (ua, ta):
                return votable_error(f"unknown alias in {item}")
            names = source.colnames if column == "*" else [column.lower()]
            for name in names:
                columns[f"{alias.lower()}_{name}"] = source[name][index]
        return Table(columns)

    def _select_columns(self, match):
        table = self.tables.get(match["table"].lower())
        if table is None:
            return votable_error(f"no table {match['table']}")
        columns = [c.strip().lower() for c in match["columns"].split(",")]
        absent = [c for c in columns if c not in table.colnames]
        if absent:
            return votable_error(f"no column(s) {', '.join(absent)} in {match['table']}")
        return table[columns]

    def _select_in(self, match):
        table = self.tables.get(match["table"].lower())
        if table is None:
            return votable_error(f"no table {match['table']}")
        wanted = [v.strip().strip("'") for v in match["values"].split(",")]
        column = match["column"].lower()
        keep = np.isin(np.char.strip(table[column].astype(str)), wanted)
        return table[keep]

    def _datalink(self, catalog, fields) -> Reply:
        table = self.tables.get(catalog)
        rows = (
            {}
            if table is None
            else {int(r): row for r, row in zip(table["__row"], table, strict=True)}
        )
        ids, urls, errors = [], [], []
        for value in fields.get("ID", []):
            row = rows.get(int(value))
            ids.append(f"ivo://nasa.heasarc/{catalog}?{value}")
            if row is None:
                urls.append("")
                errors.append(f"NotFoundFault: no row {value} in {catalog}")
                continue
            stem = str(row["seq_id"]).strip().lower()
            group = int(stem[2:8]) // 100000 * 100000
            urls.append(f"{self.archive_url}/FTP/rosat/data/pspc/processed_data/{group}/{stem}/")
            errors.append("")
        links = Table(
            {
                "ID": ids,
                "access_url": urls,
                "service_def": [""] * len(ids),
                "error_message": errors,
                "description": ["skyfield directory"] * len(ids),
                "semantics": ["#this"] * len(ids),
                "content_type": ["directory" if url else "" for url in urls],
                "content_length": np.full(len(ids), -1, dtype=np.int64),
            }
        )
        return _votable_reply({"dlresponse": links})


# --- archive and CALDB file trees ---------------------------------------------------------


class FileTreeApp:
    """Files under ``root``; directories answer an Apache-like HTML index, and
    ``/?list-type=2&prefix=...`` an S3 ListObjectsV2 document (keys relative to ``root``)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    def __call__(self, handler, body):
        parts = urllib.parse.urlsplit(handler.path)
        query = urllib.parse.parse_qs(parts.query)
        if parts.path == "/" and query.get("list-type") == ["2"]:
            return self._s3_listing(query.get("prefix", [""])[0])
        target = (self.root / urllib.parse.unquote(parts.path).lstrip("/")).resolve()
        if not target.is_relative_to(self.root) or not target.exists():
            return Reply(404, b"404 Not Found\n", "text/html")
        if target.is_dir():
            if not parts.path.endswith("/"):
                return Reply(404, b"directory URLs end with '/'\n", "text/html")
            return Reply(200, self._index(target, parts.path), "text/html")
        return Reply(200, target.read_bytes(), "application/octet-stream")

    def _index(self, directory: Path, path: str) -> bytes:
        parent = path.rstrip("/").rsplit("/", 1)[0] + "/"
        links = ['<a href="?C=N;O=D">Name</a>', f'<a href="{parent}">Parent Directory</a>']
        for entry in sorted(directory.iterdir()):
            name = entry.name + ("/" if entry.is_dir() else "")
            links.append(f'<a href="{urllib.parse.quote(name)}">{html.escape(name)}</a>')
        return ("<html><body><pre>\n" + "\n".join(links) + "\n</pre></body></html>\n").encode()

    def _s3_listing(self, prefix: str) -> Reply:
        keys = sorted(
            p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()
        )
        contents = "".join(
            f"<Contents><Key>{html.escape(k)}</Key><Size>{(self.root / k).stat().st_size}</Size>"
            "</Contents>"
            for k in keys
            if k.startswith(prefix)
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>nasa-heasarc</Name><Prefix>{html.escape(prefix)}</Prefix>"
            f"<KeyCount>{contents.count('<Key>')}</KeyCount><IsTruncated>false</IsTruncated>"
            f"{contents}</ListBucketResult>"
        )
        return Reply(200, body.encode(), "application/xml")
