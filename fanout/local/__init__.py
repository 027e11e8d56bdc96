"""The whole hub on one machine: a moto server, the stack from template.yaml, and an
in-process event-source-mapping emulator that invokes the real handlers."""
