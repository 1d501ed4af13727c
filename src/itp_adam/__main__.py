from .cli import command

if __name__ == "__main__":  # not when a worker process of a partitioned run imports it
    command()
