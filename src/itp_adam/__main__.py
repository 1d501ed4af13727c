import sys

from .cli import main

if __name__ == "__main__":  # not when a worker process of a partitioned run imports it
    sys.exit(main())
