// Keeps every Content-Security-Policy violation this page sees, so that
// they can be read back (the browser tests assert there are none), and
// warns about each on the console. Loaded first and without `defer`.
window.facecmpCspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  const violation = `${event.violatedDirective} blocked ${event.blockedURI || 'inline code'}`;
  window.facecmpCspViolations.push(violation);
  console.warn('CSP violation:', violation);
});
