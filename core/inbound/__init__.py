"""What comes in: the gateway every platform hands messages to, the commands, the platform-
neutral incoming message and policy, and per-agent ordering of events (``dispatch``)."""
