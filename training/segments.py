"""Train segments from its config, locally or as a Ray job (`--tune` runs the config's search):

python -m training.segments --config training/configs/segments.yaml -w WORKSPACE
ray job submit --working-dir . -- python -m training.segments --config training/configs/segments.yaml
"""

from training import main

if __name__ == "__main__":
    raise SystemExit(main("segments"))
