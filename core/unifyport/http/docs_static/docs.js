// Swagger UI on the gateway's own OpenAPI document; nothing is loaded from elsewhere.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
    validatorUrl: null, withCredentials: true
  });
});
