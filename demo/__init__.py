"""`alpr demo` and the local fleet the end-to-end tests run: on top of every role (it starts them all)."""
