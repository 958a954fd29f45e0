document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("when").textContent = new Date().toISOString();
});
