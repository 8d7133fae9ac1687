"""Files into archival memory: the pipeline (all of it or none, once) and the platform intake
that downloads an attachment and shows progress."""
