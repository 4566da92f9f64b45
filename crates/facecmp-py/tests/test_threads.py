"""The GIL is released during inference: threads overlap and agree with a sequential run."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import facecmp

PAIRS = [("obama.jpg", "obama2.jpg"), ("obama.jpg", "biden.jpg"), ("obama3.jpg", "obama2.jpg")]


def run(data, pair):
    match = facecmp.compare(data / pair[0], data / pair[1])
    return match.similarity, match.same, match.a.box, match.b.box


def test_two_threads_give_the_sequential_results(data):
    work = PAIRS * 2
    sequential = [run(data, pair) for pair in work]
    with ThreadPoolExecutor(max_workers=2) as pool:
        parallel = list(pool.map(lambda pair: run(data, pair), work))
    assert parallel == sequential


def test_python_keeps_running_while_a_comparison_does(data):
    facecmp.compare(data / "obama.jpg", data / "obama2.jpg")  # models loaded

    def ticks_while(busy):
        ticks = 0
        while busy():
            ticks += 1
        return ticks

    start = time.perf_counter()
    rate = ticks_while(lambda: time.perf_counter() - start < 0.2) / 0.2
    done = threading.Event()
    took = []

    def compare():
        began = time.perf_counter()
        facecmp.compare(data / "obama3.jpg", data / "bald_guys.jpg")
        took.append(time.perf_counter() - began)
        done.set()

    worker = threading.Thread(target=compare)
    worker.start()
    ticks = ticks_while(lambda: not done.is_set())
    worker.join()
    # Had the call held the GIL, this loop would only have run for a switch
    # interval (5 ms) of a call that takes far longer.
    share = ticks / (rate * took[0])
    assert share > 0.1, f"the loop ran {share:.0%} of its speed during a {took[0]:.3f} s call"
