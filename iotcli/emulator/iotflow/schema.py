"""Tables of the iotflow surface. Append-only: never edit an applied statement, append a new one."""

MIGRATIONS: list[str] = [
    """
    -- HTTP connections (IoT Flow style). ``configuration`` holds secrets in clear: they are masked
    -- only on the way out of the API.
    CREATE TABLE iotflow_connections (
        id TEXT PRIMARY KEY,             -- uuid4, 32 hex digits
        user TEXT NOT NULL,
        connector_id TEXT NOT NULL,
        name TEXT NOT NULL,
        active INTEGER NOT NULL,
        alarms TEXT,                     -- JSON, stored as given
        configuration TEXT NOT NULL,     -- JSON with defaults filled in
        state TEXT NOT NULL,             -- OPEN | CLOSED | DEACTIVATED
        state_reason TEXT,
        closed_at REAL,                  -- emulator epoch seconds the destination became unreachable
        startup_time INTEGER NOT NULL,   -- epoch ms (emulator clock)
        created INTEGER NOT NULL,
        modified INTEGER NOT NULL
    );

    -- LoRaWAN devices seen by the uplink ingress: their frame counters survive restarts.
    CREATE TABLE iotflow_devices (
        deveui TEXT PRIMARY KEY,         -- 16 upper-case hex digits
        fcnt_up INTEGER NOT NULL,        -- last FCntUp sent (-1 = none yet)
        fcnt_dn INTEGER NOT NULL,        -- next FCntDn the network expects
        devaddr TEXT NOT NULL,
        last_uplink REAL
    );

    -- Downlinks posted to /iot-flow/downlinkMessages/{uuid}: a class-A queue per device.
    CREATE TABLE iotflow_downlinks (
        id TEXT PRIMARY KEY,
        connection TEXT NOT NULL,
        deveui TEXT NOT NULL,
        status TEXT NOT NULL,            -- queued | sent | rejected | expired
        fport INTEGER NOT NULL,
        payload_hex TEXT,
        payload TEXT,                    -- JSON (decoded payload), when given instead of payload_hex
        confirmed INTEGER NOT NULL,
        fcnt_dn INTEGER,                 -- requested (body) or used (once sent)
        correlation_id TEXT NOT NULL,
        validity REAL,                   -- emulator epoch seconds, NULL = no limit
        cause TEXT,
        fcnt_up INTEGER,                 -- FCntUp of the uplink it went out with
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE INDEX iotflow_downlinks_queue ON iotflow_downlinks(deveui, status, created)
    """,
]
