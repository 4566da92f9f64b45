// Enrolment by webcam: the camera's picture goes into the enrol form's
// photo field, and the form is submitted as usual; the server reviews it
// (one clear face, large enough) and says why when it refuses it.
(() => {
  let stream = null;

  function stopCamera() {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
  }

  function setup(root) {
    const section = root.querySelector ? root.querySelector('#webcam') : null;
    if (!section || section.dataset.ready || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
    section.dataset.ready = 'yes';
    section.hidden = false;
    const video = section.querySelector('#webcam-video');
    const take = section.querySelector('#webcam-take');
    const preview = section.querySelector('#webcam-preview');
    const status = section.querySelector('#webcam-status');
    const input = document.getElementById('enrol-photo');

    section.querySelector('#webcam-start').addEventListener('click', async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
      } catch (error) {
        status.textContent = `The camera is not available: ${error.message}. Browsers allow it only over HTTPS or on localhost.`;
        return;
      }
      video.srcObject = stream;
      video.hidden = false;
      take.hidden = false;
      status.textContent = 'Camera on: look at it, then take the photo.';
    });

    take.addEventListener('click', () => {
      const canvas = document.createElement('canvas');
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext('2d').drawImage(video, 0, 0);
      canvas.toBlob((blob) => {
        if (!blob) {
          status.textContent = 'No picture yet: wait for the camera to start.';
          return;
        }
        const files = new DataTransfer();
        files.items.add(new File([blob], 'webcam.jpg', { type: 'image/jpeg' }));
        input.files = files.files;
        if (preview.src) URL.revokeObjectURL(preview.src);
        preview.src = URL.createObjectURL(blob);
        preview.hidden = false;
        status.textContent = 'Photo taken: press Enrol (or take another).';
        stopCamera();
        video.hidden = true;
        take.hidden = true;
      }, 'image/jpeg', 0.92);
    });
  }

  document.addEventListener('DOMContentLoaded', () => setup(document));
  document.addEventListener('htmx:load', (event) => setup(event.detail.elt));
  document.addEventListener('htmx:beforeSwap', (event) => {
    if (event.detail.target === document.body) stopCamera();
  });
})();
