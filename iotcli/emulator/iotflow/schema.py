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
    """
    -- Issue 16: connection ids in the documented form ("8") with a separate downlink UUID, the real
    -- state names, and top-level fields stored as given.
    ALTER TABLE iotflow_connections ADD COLUMN downlink_uuid TEXT;
    ALTER TABLE iotflow_connections ADD COLUMN top_level TEXT;
    -- Connections of the earlier version keep their 32-hex id, and the downlinkUrls already handed
    -- out keep working: their downlink UUID is the dashed form of that id.
    UPDATE iotflow_connections SET downlink_uuid = lower(substr(id, 1, 8) || '-' || substr(id, 9, 4)
        || '-' || substr(id, 13, 4) || '-' || substr(id, 17, 4) || '-' || substr(id, 21))
        WHERE downlink_uuid IS NULL;
    UPDATE iotflow_connections SET state = 'OPENED' WHERE state = 'OPEN';
    CREATE UNIQUE INDEX iotflow_connections_downlink_uuid ON iotflow_connections(downlink_uuid);
    -- Counters that never go back (the last connection id given).
    CREATE TABLE iotflow_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)
    """,
    """
    -- Issue 16 (downlinks): the documented fields kept as given (AFCntDn, RetryIneligibleGateways,
    -- Token, Time, DriverCfg) and where the downlink came from (downlinkMessages or the LRC tunnel), as
    -- JSON. correlation_id '' = none given (the Sent report then carries none).
    ALTER TABLE iotflow_downlinks ADD COLUMN extra TEXT
    """,
]
