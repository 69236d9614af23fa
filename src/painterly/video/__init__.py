"""painterly video: flicker-free style transfer of video clips (Ruder, Dosovitskiy and Brox 2016).

``videoio`` reads and writes clips (PyAV), ``flow`` measures motion (OpenCV DIS optical flow),
``cuts`` finds scene cuts (painted afresh), ``temporal`` is the engine loss term that keeps a frame
close to its warped predecessor, ``job`` runs the resumable frame loop, ``progress`` is its terminal
face. av and cv2 are an optional extra (``pip install painterly[video]``) and are imported only inside
functions.
"""
