"""Worker-side code: the work that tasks run (gathering runs, bundle builds, opening form
submissions), each on rows claimed atomically."""
