"""Declarative provisioning: an environment file (TOML) -> a plan -> the server matches the file.

One format for ``iotcli apply``, ``iotcli export`` and ``iotcli emulate --seed`` (docs/apply.md)::

    [sinks.app]
    respond = [503, 200]

    [buckets.readings]
    name = "Readings"
    config = { source = "write" }

    [devices.sensor-1]
    name = "Sensor 1"
    tokens = ["ci"]
    callback = { actions = { write_bucket = "readings" }, properties = { timeout = 10 } }
    properties = { command = { led = true } }

    [connections.my-app]              # connections are matched by name
    configuration = { destinationURL = "sink:app", strictMode = true, headers = { X-Key = "${APP_KEY}" } }

Everything is read and checked before anything changes (``load_env`` then ``plan``: a bad file is an
``EnvFileError`` naming file, line and key; a reference to a bucket, endpoint or sink that neither the
file nor the server has stops the plan too). ``apply_plan`` then makes only the changes the plan lists,
so a second run finds everything ``unchanged``. Works through the API client: the emulator or a
real Thinger-style / IoT Flow-style server. Usable without the CLI.

The package: ``envfile`` (read and check), ``changes`` and ``planner`` (plan and apply), ``export`` (server -> file);
every name is importable from ``iotcli.provision`` itself.
"""

from iotcli.provision.changes import Change, Plan, changed_fields, subset_differs
from iotcli.provision.envfile import (
    CALLBACK_ACTIONS,
    DEVICE_TYPES,
    ENV_REF,
    FIELDS,
    ID,
    IOTFLOW_CONNECTOR,
    KINDS,
    MASKED,
    SINK_PREFIX,
    EnvFile,
    EnvFileError,
    load_env,
    locate,
    parse_env,
)
from iotcli.provision.export import dump_env, export_env
from iotcli.provision.planner import Planner, apply_env, apply_plan, plan

__all__ = [
    "CALLBACK_ACTIONS",
    "DEVICE_TYPES",
    "ENV_REF",
    "FIELDS",
    "ID",
    "IOTFLOW_CONNECTOR",
    "KINDS",
    "MASKED",
    "SINK_PREFIX",
    "Change",
    "EnvFile",
    "EnvFileError",
    "Plan",
    "Planner",
    "apply_env",
    "apply_plan",
    "changed_fields",
    "dump_env",
    "export_env",
    "load_env",
    "locate",
    "parse_env",
    "plan",
    "subset_differs",
]
