#!/bin/bash
# The end-to-end matrix of test-mission-a.sh, for configuration C.
WLB_MODE=C exec "$(dirname "${BASH_SOURCE[0]}")/test-mission-a.sh"
