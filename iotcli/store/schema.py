"""Core tables shared by every surface: meta, tokens, the event journal and the delivery outbox.

Each domain keeps its own append-only list of migrations (here ``CORE``; the Thinger and IoT Flow
surfaces keep theirs beside their code). Never edit an applied statement: append a new one.
"""

CORE: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

    -- Every token the emulator issued besides the account token: OAuth access tokens (both
    -- surfaces) and device tokens. Only a SHA-256 of the secret is kept.
    CREATE TABLE tokens (
        hash TEXT PRIMARY KEY,
        id TEXT NOT NULL,
        kind TEXT NOT NULL,              -- 'oauth' | 'iotflow' | 'device'
        user TEXT NOT NULL,
        device TEXT,
        name TEXT,
        created INTEGER NOT NULL,        -- epoch ms (emulator clock)
        expires INTEGER,                 -- epoch ms, NULL = never
        last_used INTEGER
    );
    CREATE INDEX tokens_device ON tokens(user, device);

    -- The event journal: ingress and state changes, for /_emulator/events.
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts INTEGER NOT NULL,             -- epoch ms (emulator clock)
        kind TEXT NOT NULL,
        data TEXT NOT NULL               -- JSON
    );

    -- The durable outbox: every outbound HTTP request the emulator makes (uplink forwards,
    -- endpoint calls, downlink events). A row is written in the same transaction as the
    -- ingress that caused it, so an accepted message is never lost.
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,              -- 'endpoint' | 'uplink' | 'downlink_event'
        user TEXT,
        device TEXT,
        endpoint TEXT,
        connection TEXT,
        status TEXT NOT NULL,            -- pending | delivered | dropped | failed | expired
        message TEXT NOT NULL,           -- JSON: what to send (policy-specific)
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL,           -- emulator epoch seconds of the next attempt
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        reason TEXT                      -- why the last state was reached
    );
    CREATE INDEX deliveries_due ON deliveries(status, next_at);
    CREATE INDEX deliveries_connection ON deliveries(connection, id);

    CREATE TABLE delivery_attempts (
        delivery_id INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
        n INTEGER NOT NULL,
        ts REAL NOT NULL,                -- emulator epoch seconds
        method TEXT NOT NULL,
        url TEXT NOT NULL,
        headers TEXT NOT NULL,           -- JSON object, secrets masked
        body TEXT,
        status INTEGER,                  -- answer status, NULL when no answer
        response_body TEXT,
        latency_ms REAL,
        error TEXT,
        PRIMARY KEY (delivery_id, n)
    )
    """,
    # The worker's scan takes the oldest due rows in id order: this index gives them in that order
    # without sorting every pending row (a backlog of 10,000 rows made each scan take milliseconds).
    "CREATE INDEX deliveries_pending ON deliveries(id, next_at) WHERE status = 'pending'",
]
