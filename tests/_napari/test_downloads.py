"""The first Find people downloads the weights: progress in the panel, Cancel stops it.

The weights' host is a local web server; the file is a real detector's state
dict (random weights), registered with its own size and SHA-256.
"""

import dataclasses
import functools
import hashlib
import http.server
import threading
import time

import pytest
from qtpy.QtCore import qInstallMessageHandler

from doubles import tiny_hq_segmenter
from napari_fuzzy_people.models import weights
from scenes import choose, idle, street

DETECTOR = "fasterrcnn_mobilenet_v3_large_fpn"


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder by 1 MiB chunks, ``delay`` seconds apart (a slow line)."""

    delay = 0.0

    def copyfile(self, source, outputfile):
        while chunk := source.read(1 << 20):
            outputfile.write(chunk)
            time.sleep(self.delay)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def state_dict_file(tmp_path_factory):
    import torch
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_fpn

    torch.manual_seed(0)
    model = fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None)
    path = tmp_path_factory.mktemp("served") / weights.CHECKPOINTS[DETECTOR].filename
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture
def host(state_dict_file, tmp_path, monkeypatch):
    """The detector's weights on a local server, an empty cache; returns the file's bytes."""
    handler = functools.partial(Handler, directory=str(state_dict_file.parent))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    data = state_dict_file.read_bytes()
    entry = weights.CHECKPOINTS[DETECTOR]
    url = f"http://127.0.0.1:{httpd.server_address[1]}/{entry.filename}"
    digest = hashlib.sha256(data).hexdigest()
    served = dataclasses.replace(entry, url=url, size=len(data), sha256=digest, sha256_prefix=None)
    monkeypatch.setitem(weights.CHECKPOINTS, DETECTOR, served)
    for proxy in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path / "cache"))
    yield data
    httpd.shutdown()
    httpd.server_close()


def open_photo_and_choose(panel):
    viewer, widget = panel
    image, _ = street()
    viewer.add_image(image, name="photo", rgb=True)
    widget.controller.use_models(segmenter=tiny_hq_segmenter)  # only the detector downloads
    choose(widget.find.detector, DETECTOR)  # as the user does: the panel's choice is taken
    return widget


def test_the_first_find_downloads_the_weights_with_progress_in_the_panel(
    panel, qtbot, tmp_path, host
):
    widget = open_photo_and_choose(panel)
    c = widget.controller
    shown = []
    c.job_changed.connect(lambda job: shown.append(widget.job.status.text()))
    # Qt's own messages (vispy installs its handler with the canvas: take it over).
    qt_says = []
    previous = qInstallMessageHandler(lambda kind, context, text: qt_says.append(text))
    try:
        widget.find.find_button.click()
        idle(qtbot, c, timeout=120_000)
    finally:
        qInstallMessageHandler(previous)

    assert c.last_notice.severity != "error", c.last_notice.text
    filename = weights.CHECKPOINTS[DETECTOR].filename
    assert (tmp_path / "cache" / filename).read_bytes() == host
    megabytes = len(host) >> 20
    downloading = [t for t in shown if f"downloading {DETECTOR}, MB" in t]
    assert len(downloading) > 10, shown[:5]  # it moves as the file comes
    assert downloading[-1].endswith(f"({megabytes}/{megabytes})")
    # napari's own progress bar, made in the worker, built Qt widgets off the GUI thread.
    assert not [text for text in qt_says if "thread" in text], qt_says


def test_cancel_during_the_download_stops_it_and_keeps_nothing(
    panel, qtbot, tmp_path, host, monkeypatch
):
    monkeypatch.setattr(Handler, "delay", 0.1)  # the whole file would take seconds
    widget = open_photo_and_choose(panel)
    c = widget.controller
    widget.find.find_button.click()
    qtbot.waitUntil(lambda: "downloading" in widget.job.status.text(), timeout=60_000)
    widget.job.cancel_button.click()
    idle(qtbot, c)
    assert widget.job.status.text().startswith("Cancelled"), widget.job.status.text()
    assert c.last_notice.severity == "info"
    # Stopped mid-way: no file, not even a partial one (waiting for the next step
    # would have finished the download and kept it).
    assert list((tmp_path / "cache").iterdir()) == []
    assert c.people_layer is None and not c.review.people
