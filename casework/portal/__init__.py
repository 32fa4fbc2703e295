"""The public request portal: the form, e-mail verification, the status page and the secure
download (DESIGN.md, "Who uses it"). Views are thin; rules live in `services` and `selectors`."""
