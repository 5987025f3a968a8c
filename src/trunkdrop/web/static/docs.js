// Swagger UI on /docs, from the vendored bundle: a file of its own, so that no page
// of trunkdrop needs inline script.
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
