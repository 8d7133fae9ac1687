"""Settings, default prompts and logging setup. Imports nothing else of Pagemind's."""
