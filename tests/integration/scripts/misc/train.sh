#!/bin/sh
echo "shell entry point with args: $*"
echo "model from a shell script" > "$SM_MODEL_DIR/model.txt"
