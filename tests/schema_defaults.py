"""The config schema's defaults of one section: what tests pass where a rule would pass its params."""

import os

import yaml

SCHEMA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas", "config.schema.yaml")


def section_defaults(section):
    with open(SCHEMA) as f:
        schema = yaml.safe_load(f)
    return {key: spec["default"] for key, spec in schema["properties"][section]["properties"].items()}
