"""Tables of the thinger surface. Append-only: never edit an applied statement, append a new one."""

MIGRATIONS: list[str] = [
    """
    -- Devices. ``doc`` holds the fields the API shows (name, description, enabled, asset_type...);
    -- the connection state lives in columns so the ingest path updates it with one statement.
    CREATE TABLE th_devices (
        user TEXT NOT NULL,
        device TEXT NOT NULL,
        type TEXT NOT NULL,
        doc TEXT NOT NULL,                  -- JSON
        credentials_hash TEXT,              -- SHA-256 of the credentials (Generic/MQTT), never shown
        callback TEXT,                      -- JSON callback settings, NULL = none set
        created INTEGER NOT NULL,           -- epoch ms (emulator clock)
        modified INTEGER NOT NULL,
        connected INTEGER NOT NULL DEFAULT 0,
        connected_ts INTEGER,               -- when it last became connected
        disconnected_ts INTEGER,            -- when it last became disconnected
        last_seen INTEGER,                  -- epoch ms of the last callback call
        ip_address TEXT,
        rx_bytes INTEGER NOT NULL DEFAULT 0,
        tx_bytes INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (user, device)
    );

    CREATE TABLE th_buckets (
        user TEXT NOT NULL,
        bucket TEXT NOT NULL,
        doc TEXT NOT NULL,                  -- JSON: name, description, enabled, config, retention...
        created INTEGER NOT NULL,
        modified INTEGER NOT NULL,
        PRIMARY KEY (user, bucket)
    );

    -- One record per (bucket, ts): a record with the same ts replaces the old one.
    CREATE TABLE th_bucket_data (
        user TEXT NOT NULL,
        bucket TEXT NOT NULL,
        ts INTEGER NOT NULL,                -- epoch ms
        val TEXT NOT NULL,                  -- JSON object
        PRIMARY KEY (user, bucket, ts)
    ) WITHOUT ROWID;

    CREATE TABLE th_endpoints (
        user TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        doc TEXT NOT NULL,                  -- JSON: type, name, description, enabled, config
        created INTEGER NOT NULL,
        modified INTEGER NOT NULL,
        PRIMARY KEY (user, endpoint)
    );

    CREATE TABLE th_properties (
        user TEXT NOT NULL,
        device TEXT NOT NULL,
        property TEXT NOT NULL,
        doc TEXT NOT NULL,                  -- JSON: value, name, description, type, perm, form...
        created INTEGER NOT NULL,
        modified INTEGER NOT NULL,
        PRIMARY KEY (user, device, property)
    ) WITHOUT ROWID
    """,
    """
    -- The device whose callback wrote a record (NULL: written through the bucket API), for the
    -- device-scoped reads (/{version}/users/{user}/devices/{device}/buckets/{bucket}/data).
    ALTER TABLE th_bucket_data ADD COLUMN device TEXT;

    -- Bucket exports (/v1/users/{user}/buckets/{bucket}/exports): made at once, kept until deleted.
    CREATE TABLE th_bucket_exports (
        user TEXT NOT NULL,
        bucket TEXT NOT NULL,
        file TEXT NOT NULL,
        info TEXT NOT NULL,                 -- JSON: the export as the API shows it
        content BLOB NOT NULL,              -- the file itself
        created INTEGER NOT NULL,
        PRIMARY KEY (user, bucket, file)
    )
    """,
    """
    -- User access tokens (/v1/users/{user}/tokens): their configuration. The token itself (a JWT) is
    -- in the core ``tokens`` table as kind 'access' (its SHA-256 only), with the same id.
    CREATE TABLE th_access_tokens (
        user TEXT NOT NULL,
        token TEXT NOT NULL,
        doc TEXT NOT NULL,                  -- JSON: name, description, enabled, allow, deny, expire
        created INTEGER NOT NULL,
        modified INTEGER NOT NULL,
        PRIMARY KEY (user, token)
    )
    """,
]
