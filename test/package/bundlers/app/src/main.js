// The app's page script: starts the worker (the form that Vite and webpack bundle) and shows its result.
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const show = (result) => {
  window.appResult = result;
  document.getElementById('out').textContent = JSON.stringify(result, null, 2);
  document.body.dataset.done = 'true';
};
worker.onmessage = (event) => show(event.data);
worker.onerror = (event) => show({ error: event.message || 'the worker script could not be loaded' });
