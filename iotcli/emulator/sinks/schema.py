"""Tables of the sinks. Append-only: never edit an applied statement, append a new one."""

MIGRATIONS: list[str] = [
    """
    -- Sinks: named local destinations with a scripted answer (``script`` is the JSON of SinkScript).
    CREATE TABLE sinks (
        name TEXT PRIMARY KEY,
        script TEXT NOT NULL,
        served INTEGER NOT NULL DEFAULT 0,   -- requests answered so far (position in the status sequence)
        created INTEGER NOT NULL,            -- epoch ms (emulator clock)
        modified INTEGER NOT NULL
    );

    -- Every request a sink received, with what it answered. Headers are stored in clear (the database
    -- is only readable by its user) and masked on the way out unless asked for.
    CREATE TABLE sink_requests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sink TEXT NOT NULL,
        ts INTEGER NOT NULL,                 -- epoch ms (emulator clock)
        method TEXT NOT NULL,
        path TEXT NOT NULL,                  -- the sub-path after /in ('' or '/...')
        query TEXT NOT NULL,                 -- the raw query string
        headers TEXT NOT NULL,               -- JSON list of [name, value]
        body TEXT NOT NULL,                  -- UTF-8 (invalid bytes replaced), cut at the journal limit
        size INTEGER NOT NULL,               -- body size in bytes
        answer TEXT NOT NULL                 -- JSON: status, outcome, delay, body, downlink
    );
    CREATE INDEX sink_requests_sink ON sink_requests(sink, id)
    """,
]
