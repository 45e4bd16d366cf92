#!/usr/bin/env bash
# Prints the C example of README.md (the first ```c block), so the install
# test compiles exactly what the README shows.
awk '/^```c$/{on=1; next} /^```$/{if (on) exit} on' "$1"
