#!/bin/bash
# The end-to-end matrix of test-mission-a.sh, for configuration B.
WLB_MODE=B exec "$(dirname "${BASH_SOURCE[0]}")/test-mission-a.sh"
