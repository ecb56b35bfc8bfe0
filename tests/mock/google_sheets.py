#!/usr/bin/env python3
"""A mock of the Google Sheets API v4 values endpoints (tests and bench only).

    google_sheets.py [PORT] [--record FILE] [--latency-ms N] [--token T]...
                     [--sheet SPREADSHEET:NAME]... [--lifetime SECONDS]

Listens on 127.0.0.1:PORT (0 picks a free port) and prints the port on the
first line of stdout. Spreadsheets exist once created (--sheet, or
/_control "create"); a new sheet is a grid of 1000 rows and 26 columns, as
Google makes one. It answers as Sheets does:

  POST /v4/spreadsheets/S/values/RANGE:append?valueInputOption=RAW|USER_ENTERED
       &insertDataOption=INSERT_ROWS|OVERWRITE   body {range?, majorDimension?,
       values}: finds the table in RANGE (the rows from its first row to the
       last one holding a value in its columns) and writes the values on the
       rows after it, from the table's first column (RANGE's when there is no
       table); INSERT_ROWS grows the grid by the rows written. 200
       {spreadsheetId, tableRange (no table: absent), updates: {spreadsheetId,
       updatedRange, updatedRows, updatedColumns, updatedCells}}, zero counts
       left out as Google's JSON leaves them. USER_ENTERED stores the values
       as RAW does (no formulas are evaluated).
  GET  /v4/spreadsheets/S/values/RANGE?majorDimension=ROWS|COLUMNS
       &valueRenderOption=FORMATTED_VALUE|UNFORMATTED_VALUE: 200 {range (RANGE
       bounded by the grid, e.g. Log!A1:F1000), majorDimension, values (absent
       when empty; trailing empty rows and cells dropped; formatted values are
       strings: 1.0 is "1", true "TRUE")}.

  RANGE is A1 notation, percent-encoded in the path: Log!A:F, Log!A2:F,
  Log!B3, Log (the whole sheet), A:F (the first sheet), 'My Log'!A:F (a
  quote in a name doubled). Answers name sheets as Google does: quoted
  unless the name is a plain identifier.

  no Bearer token (nor access_token)  401 UNAUTHENTICATED, CREDENTIALS_MISSING
  a token not accepted (when tokens are set: --token, "tokens")
                                      401 UNAUTHENTICATED,
                                      ACCESS_TOKEN_TYPE_UNSUPPORTED
  an unknown spreadsheet              404 NOT_FOUND "Requested entity was not
                                      found."
  an unknown sheet, a bad range       400 "Unable to parse range: RANGE"
  a range starting past the grid      400 "Range (Log!A1001) exceeds grid
                                      limits. Max rows: 1000, max columns: 26"
  body.range other than RANGE         400 "Request range[RANGE] does not match
                                      value's range[BODY]"
  no valueInputOption, values not rows of scalars
                                      400 INVALID_ARGUMENT, Google's messages

Any non-empty token is accepted unless tokens are set, as
google_calendar.py does (oauth_server.py issues random ones).

POST /_control (JSON) programs it, per test:
  {"reset": true}, {"record": FILE}, {"latency_ms": N} (every answer N ms
  late), {"tokens": [T, ...] or null},
  {"create": {"spreadsheet": S, "sheets": [NAME, ...]}},
  {"script": {"append"|"get"|"*": [STEP, ...]}} the next authorized requests
      of that kind get these answers in order (a STEP with "times": N
      answers N requests). A STEP:
        {"sheets_error": 429|500|503}  Google's answer: 429 RESOURCE_EXHAUSTED
            (the write or read quota per minute per user, ErrorInfo
            RATE_LIMIT_EXCEEDED, no Retry-After), 500 INTERNAL,
            503 UNAVAILABLE; nothing is written
        {"status": S, "body": {...}, "headers": {...}}  nothing is written
        {"apply": true}  the request is carried out, then answered as the
            rest of the step says: "hang_ms": N (no answer, the connection
            closes after N ms) or "latency_ms": N (the real answer, N ms
            late): an append that lands while the client times out
        {"hang_ms": N} / {"drop": true}  nothing is written, no answer
        "latency_ms": N   this answer only, N ms late
  GET /_control/rows?spreadsheet=S&sheet=NAME answers {"rows": [...]} as
      stored (for tests; not recorded).

Every request except /_control is appended to the record file as one JSON
line: ts, method, path, query, op (append, get or null), spreadsheet, range,
rows (the number of rows sent), status, response, bearer (a SHA-256
prefix), scripted (the STEP or null), applied (whether an append was
written), latency_ms (how late the answer was sent)."""
import hashlib
import json
import os
import re
import sys
import urllib.parse

# Found beside this file, whatever sys.path says (python3 -P, PYTHONPATH).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mocklib  # noqa: E402

GRID_ROWS, GRID_COLS = 1000, 26
SERVICE = "sheets.googleapis.com"
METHODS = {"append": "google.apps.sheets.v4.SpreadsheetsService.AppendValues",
           "get": "google.apps.sheets.v4.SpreadsheetsService.GetValues"}
AUTH_HELP = ("Expected OAuth 2 access token, login cookie or other valid authentication "
             "credential. See https://developers.google.com/identity/sign-in/web/"
             "devconsole-project.")
CELL_RE = re.compile(r"^([A-Za-z]{0,3})([0-9]*)$")
PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CELL_LIKE = re.compile(r"^([A-Za-z]{1,3}[0-9]+|[Rr][0-9]*[Cc][0-9]*)$")


def google_error(code, status, message, details=None):
    error = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def quota_error(op):
    kind, limit = ("Write", "60") if op == "append" else ("Read", "300")
    return google_error(429, "RESOURCE_EXHAUSTED", (
        "Quota exceeded for quota metric '%s requests' and limit '%s requests per minute "
        "per user' of service '%s' for consumer 'project_number:123456789012'.")
        % (kind, kind, SERVICE), [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
         "domain": "googleapis.com",
         "metadata": {"quota_limit": "%sRequestsPerMinutePerUser" % kind,
                      "quota_metric": "%s/%s_requests" % (SERVICE, kind.lower()),
                      "quota_location": "global", "service": SERVICE,
                      "consumer": "projects/123456789012", "quota_limit_value": limit}},
        {"@type": "type.googleapis.com/google.rpc.Help",
         "links": [{"description": "Request a higher quota limit.",
                    "url": "https://cloud.google.com/docs/quotas/help/request_increase"}]}])


SERVER_ERRORS = {
    500: ("INTERNAL", "Internal error encountered."),
    503: ("UNAVAILABLE", "The service is currently unavailable."),
}


def col_num(letters):
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def col_letters(n):
    s = ""
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def quote_name(name):
    if PLAIN_NAME.match(name) and not CELL_LIKE.match(name):
        return name
    return "'" + name.replace("'", "''") + "'"


def split_sheet(text):
    """(sheet name or None, the A1 part or None) of TEXT; ValueError when a
    quoted name is not closed."""
    if text.startswith("'"):
        i, name = 1, ""
        while True:
            j = text.index("'", i)
            if text[j + 1:j + 2] == "'":
                name += text[i:j] + "'"
                i = j + 2
                continue
            name += text[i:j]
            rest = text[j + 1:]
            if rest == "":
                return name, None
            if not rest.startswith("!"):
                raise ValueError(text)
            return name, rest[1:]
    if "!" in text:
        name, _, a1 = text.rpartition("!")
        return name, a1
    return None, text


def parse_cells(a1):
    """(c0, r0, c1, r1) of an A1 range (1-based, None: open), or ValueError."""
    parts = a1.split(":")
    if len(parts) > 2 or not a1:
        raise ValueError(a1)
    cells = []
    for p in parts:
        m = CELL_RE.match(p)
        if not m or not p or (m.group(2) and int(m.group(2)) == 0):
            raise ValueError(a1)
        cells.append((col_num(m.group(1)) if m.group(1) else None,
                      int(m.group(2)) if m.group(2) else None))
    if len(cells) == 1:
        if cells[0][0] is None or cells[0][1] is None:
            raise ValueError(a1)
        cells.append(cells[0])
    (c0, r0), (c1, r1) = cells
    if (c0 is None) != (c1 is None) and r0 is None:
        raise ValueError(a1)
    return c0, r0, c1, r1


class Sheet:
    def __init__(self, name):
        self.name = name
        self.rows = []          # row i is A1 row i+1; cells from column A
        self.grid_rows = GRID_ROWS
        self.grid_cols = GRID_COLS
        # key (see table) -> its table, kept until another write
        self.tables = {}

    def table(self, box):
        """(first row, last row, first column, last column) of the cells
        holding a value in BOX (c0, r0, c1, r1), or None; and the key it is
        kept under (r1 None: to the grid's last row, however it grows)."""
        c0, r0, c1, r1 = box
        key = (c0, r0, c1, None if r1 == self.grid_rows else r1)
        if key not in self.tables:
            rows = self.rows
            self.tables[key] = extend(None, (
                (i + 1, j + 1) for i in range(r0 - 1, min(len(rows), r1))
                for j in range(c0 - 1, min(c1, len(rows[i]))) if rows[i][j] not in (None, "")))
        return self.tables[key], key


def extend(table, cells):
    """TABLE (see Sheet.table) grown to hold CELLS ((row, column)...)."""
    for r, c in cells:
        table = (r, r, c, c) if table is None else (
            min(table[0], r), max(table[1], r), min(table[2], c), max(table[3], c))
    return table


class State(mocklib.ScriptedState):
    def __init__(self, record, latency_ms, token, sheet):
        super().__init__(record)
        self.defaults = (latency_ms, list(token), list(sheet))
        self.reset()

    def reset(self):
        self.latency_ms, tokens, sheets = self.defaults
        self.tokens = tokens or None
        self.books = {}         # spreadsheet id -> {sheet name: Sheet}, in order
        self.script = {}
        for spec in sheets:
            book, _, name = spec.partition(":")
            self.create(book, [name])

    def create(self, book, names):
        sheets = self.books.setdefault(book, {})
        for name in names:
            sheets.setdefault(name, Sheet(name))


class Handler(mocklib.Handler):
    server_version = "ESF"
    content_type = "application/json; charset=UTF-8"
    nodelay = True

    def handle_any(self):
        st = self.server.state
        self.body = self.read_json()
        self.out = (500, {}, {})
        if self.route.startswith("/_control"):
            self.control()
            return self.send()
        self.op, self.book, self.range, self.step, self.applied = None, None, None, None, False
        self.parse_route()
        # a token in the query is taken as Google takes it, never recorded
        token = self.bearer(self.query.pop("access_token", None))
        latency = st.latency_ms
        if self.authorized(token):
            latency = self.answer(self.dispatch)
        values = self.body.get("values") if isinstance(self.body, dict) else None
        self.record(op=self.op, spreadsheet=self.book, range=self.range,
                    rows=len(values) if isinstance(values, list) else None,
                    status=self.out[0] if self.out else None,
                    response=self.out[1] if self.out else None,
                    bearer=hashlib.sha256(token.encode()).hexdigest()[:16] if token else None,
                    scripted=self.step, applied=self.applied,
                    latency_ms=None if self.out is None else latency)
        self.send_late(latency)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def parse_route(self):
        """Sets op, book (spreadsheet id) and range from the path."""
        parts = self.path.split("?")[0].split("/")
        if len(parts) != 6 or parts[1:3] != ["v4", "spreadsheets"] or parts[4] != "values":
            return
        self.book = urllib.parse.unquote(parts[3])
        rng = urllib.parse.unquote(parts[5])
        if self.command == "POST" and rng.endswith(":append"):
            self.op, self.range = "append", rng[:-len(":append")]
        elif self.command == "GET":
            self.op, self.range = "get", rng

    def authorized(self, token):
        """Whether TOKEN may call; else self.out is Google's 401."""
        st = self.server.state
        with st.lock:
            tokens = st.tokens
        if token and (tokens is None or token in tokens):
            return True
        reason = "ACCESS_TOKEN_TYPE_UNSUPPORTED" if token else "CREDENTIALS_MISSING"
        message = ("Request had invalid authentication credentials. " if token else
                   "Request is missing required authentication credential. ") + AUTH_HELP
        info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                "domain": "googleapis.com", "metadata": {"service": SERVICE}}
        if self.op:
            info["metadata"]["method"] = METHODS[self.op]
        self.reply(401, google_error(401, "UNAUTHENTICATED", message, [info]),
                   {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
        return False

    def answer(self, dispatch):
        """mocklib's answer, the script keyed by op ("append", "get")."""
        st = self.server.state
        step = st.take_step(self.op or "")
        if step is None:
            dispatch()
            return st.latency_ms
        self.step = step
        self.scripted(step)
        return step.get("latency_ms", st.latency_ms)

    def scripted(self, step):
        if step.get("apply"):
            self.dispatch()
            self.hangs(step)
            return
        if self.hangs(step):
            return
        code = step.get("sheets_error")
        if code == 429:
            return self.reply(429, quota_error(self.op))
        if code in SERVER_ERRORS:
            return self.reply(code, google_error(code, *SERVER_ERRORS[code]))
        self.reply(step.get("status", 500), step.get("body", {}), step.get("headers"))

    # --- the values endpoints ---------------------------------------------

    def dispatch(self):
        if self.op is None:
            return self.reply(404, google_error(404, "NOT_FOUND", "Requested entity was not "
                                                "found."))
        st = self.server.state
        with st.lock:
            sheets = st.books.get(self.book)
            if sheets is None:
                return self.reply(404, google_error(404, "NOT_FOUND",
                                                    "Requested entity was not found."))
            target = self.resolve(sheets)
            if target is None:
                return self.reply(400, google_error(400, "INVALID_ARGUMENT",
                                                    "Unable to parse range: " + self.range))
            sheet, c0, r0 = target[:3]
            if r0 > sheet.grid_rows or c0 > sheet.grid_cols:
                return self.reply(400, google_error(400, "INVALID_ARGUMENT", (
                    "Range (%s) exceeds grid limits. Max rows: %d, max columns: %d")
                    % (self.a1(sheet, c0, r0, c0, r0), sheet.grid_rows, sheet.grid_cols)))
            if self.op == "append":
                return self.append(*target)
            self.get(*target)

    def resolve(self, sheets):
        """(sheet, c0, r0, c1, r1) that self.range names, bounds filled in
        from the grid; None when it names nothing."""
        try:
            name, a1 = split_sheet(self.range)
        except ValueError:
            return None
        if name is None and a1 in sheets:
            name, a1 = a1, None
        if name is None:
            name = next(iter(sheets), None)
        sheet = sheets.get(name)
        if sheet is None:
            return None
        if a1 is None:
            return sheet, 1, 1, sheet.grid_cols, sheet.grid_rows
        try:
            c0, r0, c1, r1 = parse_cells(a1)
        except ValueError:
            return None
        if c0 and c1 and c0 > c1:
            c0, c1 = c1, c0
        if r0 and r1 and r0 > r1:
            r0, r1 = r1, r0
        return sheet, c0 or 1, r0 or 1, c1 or sheet.grid_cols, r1 or sheet.grid_rows

    def a1(self, sheet, c0, r0, c1, r1):
        cell = "%s%d" % (col_letters(c0), r0)
        if (c0, r0) != (c1, r1):
            cell += ":%s%d" % (col_letters(c1), r1)
        return quote_name(sheet.name) + "!" + cell

    def check_values(self, b):
        """The rows of body B, or None (self.out then Google's 400)."""
        q = self.query
        if "valueInputOption" not in q:
            return self.bad("'valueInputOption' is required but not specified")
        if q["valueInputOption"] not in ("RAW", "USER_ENTERED"):
            return self.bad("Invalid value at 'value_input_option' (type.googleapis.com/"
                            "google.apps.sheets.v4.ValueInputOption), \"%s\""
                            % q["valueInputOption"])
        if q.get("insertDataOption", "OVERWRITE") not in ("OVERWRITE", "INSERT_ROWS"):
            return self.bad("Invalid value at 'insert_data_option' (type.googleapis.com/"
                            "google.apps.sheets.v4.InsertDataOption), \"%s\""
                            % q["insertDataOption"])
        if not isinstance(b, dict):
            return self.bad("Invalid JSON payload received. Expected an object.")
        if "range" in b and b["range"] != self.range:
            return self.bad("Request range[%s] does not match value's range[%s]"
                            % (self.range, b["range"]))
        values = b.get("values", [])
        if not isinstance(values, list):
            return self.bad("Invalid value at 'data.values' (type.googleapis.com/"
                            "google.protobuf.ListValue), %s" % json.dumps(values))
        for i, row in enumerate(values):
            if not isinstance(row, list):
                return self.bad("Invalid value at 'data.values[%d]' (type.googleapis.com/"
                                "google.protobuf.ListValue), %s" % (i, json.dumps(row)))
            for j, v in enumerate(row):
                if isinstance(v, (list, dict)):
                    return self.bad("Invalid values[%d][%d]: %s" % (i, j, json.dumps(v)))
        if b.get("majorDimension", "ROWS") == "COLUMNS":
            width = max((len(c) for c in values), default=0)
            values = [[c[i] if i < len(c) else None for c in values] for i in range(width)]
        return values

    def bad(self, message):
        self.reply(400, google_error(400, "INVALID_ARGUMENT", message))
        return None

    def append(self, sheet, c0, r0, c1, r1):
        values = self.check_values(self.body)
        if values is None:
            return
        rows = sheet.rows
        table, key = sheet.table((c0, r0, c1, r1))
        body = {"spreadsheetId": self.book}
        start_col, next_row = c0, r0
        if table:
            first, last, left, right = table
            start_col, next_row = left, last + 1
            body["tableRange"] = self.a1(sheet, left, first, right, last)
        k = len(values)
        width = max((len(v) for v in values), default=0)
        shifted = False
        if self.query.get("insertDataOption") == "INSERT_ROWS":
            shifted = next_row - 1 < len(rows)
            if shifted:
                rows[next_row - 1:next_row - 1] = [[] for _ in range(k)]
            sheet.grid_rows += k
        else:
            sheet.grid_rows = max(sheet.grid_rows, next_row + k - 1)
        sheet.grid_cols = max(sheet.grid_cols, start_col + width - 1)
        for i, v in enumerate(values):
            n = next_row - 1 + i
            while len(rows) <= n:
                rows.append([])
            row = rows[n]
            row.extend([None] * (start_col - 1 + len(v) - len(row)))
            row[start_col - 1:start_col - 1 + len(v)] = v
        # what was written changes every other range's table
        last_row = key[3] or sheet.grid_rows
        sheet.tables = {} if shifted else {key: extend(table, (
            (next_row + i, start_col + j) for i, v in enumerate(values) for j, x in enumerate(v)
            if x not in (None, "") and c0 <= start_col + j <= c1 and next_row + i <= last_row))}
        self.applied = True
        updates = {"spreadsheetId": self.book}
        if k:
            updates["updatedRange"] = self.a1(sheet, start_col, next_row,
                                              start_col + max(width, 1) - 1, next_row + k - 1)
        counts = {"updatedRows": sum(1 for v in values if v),
                  "updatedColumns": width, "updatedCells": sum(len(v) for v in values)}
        updates.update({key: n for key, n in counts.items() if n})
        body["updates"] = updates
        self.reply(200, body)

    def get(self, sheet, c0, r0, c1, r1):
        q = self.query
        formatted = q.get("valueRenderOption", "FORMATTED_VALUE") != "UNFORMATTED_VALUE"
        r1, c1 = min(r1, sheet.grid_rows), min(c1, sheet.grid_cols)
        out = []
        for row in sheet.rows[r0 - 1:r1]:
            cells = [render(v, formatted) for v in row[c0 - 1:c1]]
            while cells and cells[-1] == "":
                cells.pop()
            out.append(cells)
        while out and not out[-1]:
            out.pop()
        dim = q.get("majorDimension", "ROWS")
        if dim == "COLUMNS":
            width = max((len(r) for r in out), default=0)
            out = [[r[i] if i < len(r) else "" for r in out] for i in range(width)]
            for col in out:
                while col and col[-1] == "":
                    col.pop()
        body = {"range": self.a1(sheet, c0, r0, c1, r1), "majorDimension": dim}
        if out:
            body["values"] = out
        self.reply(200, body)

    # --- programming ------------------------------------------------------

    def control(self):
        st, c = self.server.state, self.body or {}
        if self.command == "GET":
            with st.lock:
                sheet = st.books.get(self.query.get("spreadsheet"), {}).get(
                    self.query.get("sheet"))
                rows = [list(r) for r in sheet.rows] if sheet else None
            return self.reply(200 if sheet else 404, {"rows": rows})
        with st.lock:
            st.apply(c, "latency_ms", "tokens")
            if "create" in c:
                st.create(c["create"]["spreadsheet"], c["create"].get("sheets", ["Sheet1"]))
            st.add_script(c.get("script", {}))
        self.reply(200, {"ok": True})


def render(v, formatted):
    """Cell V as values.get gives it."""
    if v is None:
        return ""
    if not formatted:
        return v
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


if __name__ == "__main__":
    mocklib.main(Handler, State, server=mocklib.BusyServer, record=None,
                 latency_ms=0, token=[], sheet=[])
