// The integration guide's "Frontend Integration Example", as written
// (docs: /work/shared/spec/omochi_payment_integration.md). app.js provides
// yourAuthToken and the show...Message functions it calls.

// Example using React
async function initiatePayment(orderId) {
  try {
    const response = await fetch(`/api/orders/${orderId}/pay/`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'Authorization': 'Bearer ' + yourAuthToken
      }
    });
    
    const data = await response.json();
    
    if (data.checkout_url) {
      // Redirect to Stripe checkout
      window.location.href = data.checkout_url;
    }
  } catch (error) {
    console.error('Payment initiation failed:', error);
  }
}

// In your payment status page:
async function checkPaymentStatus() {
  const urlParams = new URLSearchParams(window.location.search);
  const sessionId = urlParams.get('session_id');
  const status = urlParams.get('status');
  
  if (status === 'success' && sessionId) {
    try {
      const response = await fetch(`/api/payments/check_status/?session_id=${sessionId}`, {
        headers: {
          'Authorization': 'Bearer ' + yourAuthToken
        }
      });
      
      const paymentData = await response.json();
      
      if (paymentData.status === 'COMPLETED') {
        // Payment successful
        showSuccessMessage();
      } else {
        // Payment in progress or failed
        showStatusMessage(paymentData.status);
      }
    } catch (error) {
      console.error('Error checking payment status:', error);
    }
  } else if (status === 'cancelled') {
    // Payment cancelled
    showCancelledMessage();
  }
}
